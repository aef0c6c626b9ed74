/* Plotly's toolbar (the modebar, shown while the pointer is over its chart) stays out of the keyboard's
 * way: its buttons are taken out of the Tab order (eight tab stops per chart otherwise). Plotly rebuilds
 * the bar on redraws, so an observer marks every button as it appears. */
(function () {
  function skip(root) {
    var buttons = root.querySelectorAll ? root.querySelectorAll(".modebar-btn:not([tabindex='-1'])") : [];
    for (var i = 0; i < buttons.length; i++) { buttons[i].setAttribute("tabindex", "-1"); }
  }
  function watch() {
    skip(document);
    new MutationObserver(function (changes) {
      for (var i = 0; i < changes.length; i++) {
        for (var j = 0; j < changes[i].addedNodes.length; j++) {
          var node = changes[i].addedNodes[j];
          if (node.nodeType === 1) {
            if (node.classList.contains("modebar-btn")) { node.setAttribute("tabindex", "-1"); }
            skip(node);
          }
        }
      }
    }).observe(document.body, {childList: true, subtree: true});
  }
  if (document.body) { watch(); } else { document.addEventListener("DOMContentLoaded", watch); }
})();
