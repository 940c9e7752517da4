// The dashboard's page-side helpers (Dash loads every .js file in assets/).
window.mltrack = window.mltrack || {};

// The grid's API, or null while it is not rendered yet (dash_ag_grid.getApi throws
// then, which logged an error on every page load).
window.mltrack.gridApi = function (id) {
  try {
    return dash_ag_grid.getApi(id) || null;
  } catch (e) {
    return null;
  }
};

// Live refresh: the tick re-asks the grid's cached blocks (sort, scroll and ticks
// kept); a filter change starts the grid afresh.
window.mltrack.refreshGrid = function (id, context) {
  var api = window.mltrack.gridApi(id);
  if (!api) { return window.dash_clientside.no_update; }
  var trigger = ((context && context.triggered && context.triggered[0]) || {}).prop_id || '';
  if (trigger.indexOf('tick') === 0) { api.refreshInfiniteCache(); }
  else { api.purgeInfiniteCache(); }
  return Date.now();
};
