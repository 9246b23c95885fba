/* Figures whose text a reader can read at every width.
 *
 * Each figure image carries the size of its smallest text at its design
 * width (data-font-px, written at build time: book/_ext/page_fixes.py for
 * chapter figures, dml/widgets/_static.py for explorer frames). Shrunk
 * into a phone's column, that text would fall below 9 px; instead the
 * image keeps the width at which it stays at 9 px or more, and its output
 * box scrolls sideways (figures.css).
 */
(function () {
  var MIN_PX = 9;
  function designWidth(img) {
    return parseFloat(img.dataset.designWidth) ||
      parseFloat(img.getAttribute("width")) ||
      parseFloat(img.style.width) || img.naturalWidth / 2;
  }
  function keepLegible(img) {
    var font = parseFloat(img.dataset.fontPx);
    var width = designWidth(img);
    if (!(font > 0) || !(width > 0)) return;
    img.style.width = "100%";
    img.style.maxWidth = Math.round(width) + "px";   // never enlarged
    img.style.minWidth = Math.ceil(width * MIN_PX / font) + "px";
  }
  function ready(cb) {
    if (document.readyState !== "loading") cb();
    else document.addEventListener("DOMContentLoaded", cb);
  }
  ready(function () {
    document.querySelectorAll("img[data-font-px]").forEach(keepLegible);
  });
})();
