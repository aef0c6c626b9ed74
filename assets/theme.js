/* Light and dark themes. The choice lives in localStorage ("dc-theme"); without one, the
 * operating system's preference decides. Applied before Dash renders, so no flash of the other theme. */
(function () {
  var KEY = "dc-theme";
  function preferred() {
    var saved = null;
    try { saved = window.localStorage.getItem(KEY); } catch (e) { /* storage off: follow the OS */ }
    if (saved === "light" || saved === "dark") { return saved; }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function apply(theme) {
    document.documentElement.setAttribute("data-bs-theme", theme);
    return theme;
  }
  apply(preferred());
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    theme: {
      /* n_clicks of the toggle -> the button's label; the first call (n_clicks undefined) only reports. */
      toggle: function (clicks) {
        var theme = preferred();
        if (clicks) {
          theme = theme === "dark" ? "light" : "dark";
          try { window.localStorage.setItem(KEY, theme); } catch (e) { /* session-only choice */ }
        }
        apply(theme);
        return theme === "dark" ? "☀ Light" : "☾ Dark";
      }
    }
  });
})();
