// Cell renderers for the experiments grid (dash-ag-grid looks them up here).
var dagcomponentfuncs = (window.dashAgGridComponentFunctions =
  window.dashAgGridComponentFunctions || {});

// A bar for epochs done (and the running epoch's part), with the time left.
dagcomponentfuncs.ProgressBar = function (props) {
  if (!props.data) { return null; }
  var pct = Math.max(0, Math.min(100, props.value || 0));
  var status = props.data.status;
  var left = props.data.time_left;  // "estimating…" until the worker can tell
  var label = status === 'running' && left
    ? (/…$/.test(left) ? left : left + ' left')
    : Math.round(pct) + '%';
  if (status === 'running' && props.data.cancel_requested) { label = 'stopping…'; }
  return React.createElement('div', {className: 'progress progress-' + status, title: pct + '%'},
    React.createElement('div', {className: 'progress-fill', style: {width: pct + '%'}}),
    React.createElement('span', {className: 'progress-label'}, label));
};
