// MathJax 3 configuration for pymdownx.arithmatex in generic mode: arithmatex wraps every formula
// in a span/div of class "arithmatex" with \( \) or \[ \] delimiters, and MathJax typesets only
// those. MathJax itself is served from the site (javascripts/mathjax/, copied from the
// django-static-mathjax package by docs/javascripts/mathjax_offline.py), never from a CDN.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

// Material's instant navigation swaps pages without reloading scripts: typeset again on each page.
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (window.MathJax && MathJax.typesetPromise) {
      MathJax.startup.output.clearCache();
      MathJax.typesetClear();
      MathJax.texReset();
      MathJax.typesetPromise();
    }
  });
}
