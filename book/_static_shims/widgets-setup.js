/* Loaded after require.js and before the ipywidgets HTML manager.
 *
 * 1. The manager finds its own fonts relative to the page unless RequireJS
 *    knows where it lives; point it at the copy served under _static/vendor
 *    (this file sits in _static/, so that path is known on every page).
 * 2. The manager typesets widget labels with MathJax 2's MathJax.Hub.Queue;
 *    the book runs MathJax 3. Give every MathJax object a small, hidden
 *    Hub.Queue that forwards to MathJax 3's typesetPromise.
 */
(function () {
  var here = document.currentScript.src;
  var vendor = here.slice(0, here.lastIndexOf("/") + 1) + "vendor/";
  require.config({
    paths: {"@jupyter-widgets/html-manager/dist": vendor + "html-manager"}
  });

  function addHub(mj) {
    if (mj && typeof mj === "object" && !mj.Hub) {
      Object.defineProperty(mj, "Hub", {
        enumerable: false, configurable: true,
        value: {Queue: function (job) {
          var el = job && job[2];
          if (window.MathJax && window.MathJax.typesetPromise) {
            window.MathJax.typesetPromise(el ? [el] : undefined);
          }
        }}
      });
    }
    return mj;
  }
  var current = addHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) { current = addHub(value); }
  });
})();
