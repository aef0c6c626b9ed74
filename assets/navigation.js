/* The navigation bar's menu button (narrow screens): opens and closes the collapsed links in the
 * browser, without a round trip to the server. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  navigation: {
    toggle: function (clicks, open) {
      return clicks ? !open : false;
    }
  }
});
