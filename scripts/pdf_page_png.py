"""Render pages of a PDF to PNG for a look by eye (dev tool; pypdfium2 is a dev dependency).

    .venv/bin/python scripts/pdf_page_png.py report.pdf out_dir [--pages 1,2] [--scale 1.5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pypdfium2 as pdfium


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--pages", default="1", help="comma-separated 1-based page numbers, or 'all'")
    parser.add_argument("--scale", type=float, default=1.5)
    args = parser.parse_args()
    document = pdfium.PdfDocument(str(args.pdf))
    pages = range(1, len(document) + 1) if args.pages == "all" else [int(p) for p in args.pages.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    for number in pages:
        image = document[number - 1].render(scale=args.scale).to_pil()
        target = args.out / f"{args.pdf.stem}-p{number}.png"
        image.save(target)
        print(target)


if __name__ == "__main__":
    main()
