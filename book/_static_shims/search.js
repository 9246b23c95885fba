/* Search results without raw TeX.
 *
 * Sphinx builds each result's snippet from the page's HTML, in which the
 * math is still TeX source (MathJax typesets it only on the page itself),
 * so snippets read "\(\mathcal{L}_{\text{cls}}\)". Before the snippet is
 * cut, turn every formula into plain text: L_cls.
 */
(function () {
  function texToText(tex) {
    return tex
      .replace(/^\\\(|\\\)$|^\\\[|\\\]$|\$/g, "")
      .replace(/\\(?:frac)\{([^{}]*)\}\{([^{}]*)\}/g, "($1)/($2)")
      .replace(/\\(?:mathcal|mathbf|mathrm|text|operatorname|boldsymbol|bar|hat|tilde)\{([^{}]*)\}/g, "$1")
      .replace(/\\(?:left|right|big|Big|quad|qquad|,|;|!)/g, " ")
      .replace(/\\(alpha|beta|gamma|delta|lambda|mu|sigma|tau|theta|xi|ell|pi)\b/g, "$1")
      .replace(/\\([a-zA-Z]+)/g, "")
      .replace(/[{}]/g, "")
      .replace(/\s+/g, " ")
      .trim();
  }
  function patch() {
    if (typeof Search === "undefined" || !Search.htmlToText) return;
    var original = Search.htmlToText;
    Search.htmlToText = function (htmlString, anchor) {
      var doc = new DOMParser().parseFromString(htmlString, "text/html");
      doc.querySelectorAll(".math").forEach(function (el) {
        el.replaceWith(doc.createTextNode(texToText(el.textContent)));
      });
      return original(doc.documentElement.outerHTML, anchor);
    };
  }
  if (document.readyState !== "loading") patch();
  else document.addEventListener("DOMContentLoaded", patch);
})();
