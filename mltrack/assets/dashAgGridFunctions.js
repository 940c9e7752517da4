// Functions the grid's column definitions call by name (dash-ag-grid looks them up here).
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

// A metric or float hyperparameter in a cell: 5 significant digits (4 with an exponent), exponents
// for the very large and the very small, '' for no value.
dagfuncs.mltrackNumber = function (value) {
  if (value === null || value === undefined || value === '') { return ''; }
  if (typeof value !== 'number') { return String(value); }
  var a = Math.abs(value);
  if (a !== 0 && (a >= 1e6 || a < 1e-4)) {
    return value.toExponential(3).replace(/\.?0+e/, 'e');
  }
  return String(+value.toPrecision(5));
};

// The status cell: a done run that ended far from its best gets a warning sign (its
// tooltip says why; a failed run's tooltip is its error).
dagfuncs.mltrackStatus = function (params) {
  var value = params.value || '';
  return params.data && params.data.flagged && value === 'done' ? value + ' ⚠' : value;
};
