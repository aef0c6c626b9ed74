"""The chart colours of the dashboard and the reports: Okabe–Ito, told apart with every common colour-vision
deficiency (Okabe & Ito 2008), black left out so lines stay visible on the dark theme.

Order matters: series take the colours in turn, and figures read PALETTE[0] as "the primary series".
Gains and losses have names of their own, so a change of order cannot swap their meaning.
"""

from __future__ import annotations

BLUE, BLUISH_GREEN, REDDISH_PURPLE, ORANGE = "#0072B2", "#009E73", "#CC79A7", "#E69F00"
SKY_BLUE, VERMILLION, YELLOW = "#56B4E9", "#D55E00", "#F0E442"
PALETTE = [BLUE, BLUISH_GREEN, REDDISH_PURPLE, ORANGE, SKY_BLUE, VERMILLION, YELLOW]
GAIN, LOSS = BLUISH_GREEN, VERMILLION
# Competitors and "before" values: grey, readable on the light and the dark card.
MUTED = "#94a3b8"
# Own brands draw solid lines, competitors dashed (Plotly's line.dash): the difference survives greyscale.
OWN_LINE, COMPETITOR_LINE = "solid", "dash"
