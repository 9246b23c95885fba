/* Sidebar toggles and tooltips that work at every width.
 *
 * pydata-sphinx-theme and sphinx-book-theme both bind their sidebar
 * handlers to document.querySelector(".primary-toggle") (and
 * ".secondary-toggle"): the FIRST such button, which is pydata's navbar
 * icon, hidden under the book theme. The buttons a reader sees (in the
 * article header) get no handler, so on a phone the contents cannot be
 * opened and on a desktop the sidebar cannot be hidden. Forward a click on
 * any visible toggle to the first one, whose handlers do the right thing
 * for the width (a dialog on a phone, a collapsed column on a desktop).
 *
 * Bootstrap keeps a button's tooltip open while the button has focus, and
 * a tap leaves it focused: blur every tooltip button after a click. The
 * stylesheet nav-fixes.css hides tooltips on touch screens altogether.
 */
(function () {
  function ready(cb) {
    if (document.readyState !== "loading") cb();
    else document.addEventListener("DOMContentLoaded", cb);
  }
  ready(function () {
    [".primary-toggle", ".secondary-toggle"].forEach(function (sel) {
      var buttons = document.querySelectorAll(sel);
      var bound = buttons[0];
      for (var i = 1; i < buttons.length; i++) {
        buttons[i].addEventListener("click", function (event) {
          event.preventDefault();
          event.stopPropagation();
          bound.click();
        });
      }
    });
    document.querySelectorAll('[data-bs-toggle="tooltip"]').forEach(
      function (el) {
        el.addEventListener("click", function () {
          setTimeout(function () {
            el.blur();
            document.querySelectorAll(".tooltip").forEach(function (t) {
              t.remove();
            });
          }, 0);
        });
      });
  });
})();
