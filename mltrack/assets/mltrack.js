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

// When the user last moved, scrolled, clicked or typed in the grid.
window.mltrack.lastTouch = 0;
window.mltrack.PAUSE_MS = 4000;
['mousemove', 'wheel', 'mousedown', 'keydown'].forEach(function (kind) {
  document.addEventListener(kind, function (event) {
    if (event.target && event.target.closest && event.target.closest('#jobs-grid')) {
      window.mltrack.lastTouch = Date.now();
    }
  }, {capture: true, passive: true});
});

// Sorted by something that changes as runs learn (not the creation time)?
window.mltrack.liveSorted = function (api) {
  return api.getColumnState().some(function (c) { return c.sort && c.colId !== 'created'; });
};

// Live refresh: the tick re-asks the grid's cached blocks (sort, scroll and ticks
// kept), except while the user works in a table sorted by a value that changes
// (rows would move under the pointer); a filter change starts the grid afresh.
// Returns [refreshed, the note that says live order is paused].
window.mltrack.refreshGrid = function (id, context) {
  var no = window.dash_clientside.no_update;
  var api = window.mltrack.gridApi(id);
  if (!api) { return [no, no]; }
  var trigger = ((context && context.triggered && context.triggered[0]) || {}).prop_id || '';
  if (trigger.indexOf('tick') === 0) {
    var busy = Date.now() - window.mltrack.lastTouch < window.mltrack.PAUSE_MS;
    if (busy && window.mltrack.liveSorted(api)) {
      return [no, 'live order paused while you work in the sorted table'];
    }
    api.refreshInfiniteCache();
  } else {
    api.purgeInfiniteCache();
  }
  return [Date.now(), ''];
};

// -- the view in the URL ----------------------------------------------------------
// What a URL asked for that only the grid can apply (a sort, ticked rows), kept
// until the grid has the column and the rows.
window.mltrack.pending = null;
window.mltrack.restored = false;

window.mltrack.restore = function (view) {
  window.mltrack.pending = view ? {sort: view.sort, order: view.order,
                                   ticked: (view.ticked || []).slice(), tries: 0} : null;
  window.mltrack.restored = true;
  window.mltrack.applyPending('jobs-grid');
  return Date.now();
};

// Called when rows or columns arrive: sort by the column once it exists, tick the
// rows once they are loaded (a few tries: a run deleted since is dropped).
window.mltrack.applyPending = function (id) {
  var p = window.mltrack.pending;
  var api = window.mltrack.gridApi(id);
  if (!p || !api) { return window.dash_clientside.no_update; }
  if (p.sort && api.getColumn(p.sort)) {
    api.applyColumnState({state: [{colId: p.sort, sort: p.order || 'asc'}],
                          defaultState: {sort: null}});
    p.sort = null;
  }
  if (p.ticked.length) {
    var wanted = {};
    p.ticked.forEach(function (iid) { wanted[iid] = true; });
    var nodes = [];
    api.forEachNode(function (node) {
      if (node.data && wanted[node.id]) { nodes.push(node); delete wanted[node.id]; }
    });
    if (nodes.length) { api.setNodesSelected({nodes: nodes, newValue: true}); }
    p.ticked = Object.keys(wanted);
  }
  p.tries += 1;
  if ((!p.sort && !p.ticked.length) || p.tries > 20) { window.mltrack.pending = null; }
  else { setTimeout(function () { window.mltrack.applyPending(id); }, 150); }
  return Date.now();
};

// The page's view -> its query string (replaced, not pushed: the back button
// leaves the page as before). Nothing is written until the URL's view is read.
window.mltrack.writeUrl = function (status, text, task, where, read, ticked, chart) {
  if (!window.mltrack.restored) { return window.dash_clientside.no_update; }
  var args = new URLSearchParams();
  if (task) { args.set('task', task); }
  if (status) { args.set('status', status); }
  if (text) { args.set('q', text); }
  if (where) { args.set('where', where); }
  if (read && read.sort && !(read.sort === 'created' && read.order === 'desc')) {
    args.set('sort', read.sort);
    args.set('order', read.order);
  }
  if (ticked && ticked.length) { args.set('ticked', ticked.join(',')); }
  Object.keys(chart || {}).sort().forEach(function (key) {
    var value = chart[key];
    if (value === true) { args.set('chart_' + key, '1'); }
    else if (typeof value === 'string' && value) { args.set('chart_' + key, value); }
  });
  var query = args.toString();
  // the part of the page a link points to (#runs) stays in it
  var url = window.location.pathname + (query ? '?' + query : '') + window.location.hash;
  if (url !== window.location.pathname + window.location.search + window.location.hash) {
    window.history.replaceState(window.history.state, '', url);
  }
  return query;
};

// The column chooser closes when the user clicks elsewhere, as a menu does.
document.addEventListener('click', function (event) {
  document.querySelectorAll('.column-chooser[open]').forEach(function (menu) {
    if (!menu.contains(event.target)) { menu.removeAttribute('open'); }
  });
});

// A link to a part of the page (#runs, #experiments): the browser looked for
// the anchor before Dash drew the page, so look again once it is there, and
// once more when the table above it has its rows.
(function scrollToAnchor(tries) {
  var id = window.location.hash.slice(1);
  var target = id && document.getElementById(id);
  if (target) {
    target.scrollIntoView();
    setTimeout(function () { target.scrollIntoView(); }, 1000);
  } else if (id && tries > 0) {
    setTimeout(function () { scrollToAnchor(tries - 1); }, 100);
  }
})(100);
