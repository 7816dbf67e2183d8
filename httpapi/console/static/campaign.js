// A campaign's live page: polls the API's stats (tiles, tables by variant and account)
// and timeline (the chart, and the opted-out tile), one request at a time: every 2
// seconds while the campaign sends, every 5 seconds once it has finished (read receipts,
// replies and opt-outs keep arriving after the last send), never while the tab is hidden.
// The chart is an SVG drawn here: a cumulative line per series, a legend, and a text
// summary for screen readers.
(function () {
  'use strict';
  var live = window.crier.data('campaign-data');
  if (!live) { return; }
  var base = '/v1/campaigns/' + live.id;
  var SVG = 'http://www.w3.org/2000/svg';
  var LIVE_MS = 2000, FINISHED_MS = 5000, ERROR_MS = 10000;
  var series = [
    { key: 'queued', label: 'Queued', color: '#57606a' },
    { key: 'sent', label: 'Sent', color: '#0a5bd3' },
    { key: 'delivered', label: 'Delivered', color: '#1a7f37' },
    { key: 'read', label: 'Read', color: '#8250df' },
    { key: 'replied', label: 'Replied', color: '#9a6700' },
    { key: 'opted_out', label: 'Opted out', color: '#c21d2a' }
  ];
  var badges = { running: 'ok', completed: 'ok', paused: 'warn', cancelled: 'bad', scheduled: 'info' };
  var fmt = new Intl.NumberFormat();
  var shown = live.status;

  function $(id) { return document.getElementById(id); }
  function text(id, v) { var el = $(id); if (el) { el.textContent = v; } }
  function final(st) { return st === 'completed' || st === 'cancelled'; }

  // status shows the campaign's status and only the controls it allows, as the API's
  // state machine does (campaigns/lifecycle.go; the page's handler renders the same).
  function status(st) {
    var b = $('campaign-status');
    b.textContent = st;
    b.className = 'badge ' + (badges[st] || '');
    if ($('pause')) { $('pause').hidden = !(st === 'scheduled' || st === 'running'); }
    if ($('resume')) { $('resume').hidden = st !== 'paused'; }
    if ($('cancel')) { $('cancel').hidden = !(st === 'draft' || st === 'scheduled' || st === 'running' || st === 'paused'); }
    if (st !== shown) {
      shown = st;
      text('live-note', final(st)
        ? 'This campaign has finished sending. Read receipts, replies and opt-outs still arrive: refreshed every 5 seconds.'
        : 'Refreshed every 2 seconds while the campaign is live.');
    }
    return final(st);
  }

  function row(label, c) {
    var tr = document.createElement('tr');
    var th = document.createElement('th'); th.scope = 'row'; th.textContent = label; tr.appendChild(th);
    ['total', 'sent', 'delivered', 'read', 'replied', 'opted_out', 'failed'].forEach(function (k) {
      var td = document.createElement('td'); td.className = 'num'; td.textContent = fmt.format(c[k] || 0); tr.appendChild(td);
    });
    return tr;
  }

  // noneLabel names the row of the messages without a variant or an account: waiting for
  // one while any is queued or sending, else never sent (skipped, cancelled or expired).
  function noneLabel(c, waiting) {
    if ((c.queued || 0) + (c.sending || 0) > 0) { return waiting; }
    return 'not sent (skipped or cancelled)';
  }

  function table(id, counts, name) {
    var body = $(id).querySelector('tbody');
    body.textContent = '';
    var keys = Object.keys(counts || {}).sort(function (a, b) { return (a === 'none') - (b === 'none') || Number(a) - Number(b); });
    keys.forEach(function (k) { body.appendChild(row(name(k, counts[k]), counts[k])); });
    if (!keys.length) {
      var tr = document.createElement('tr'); var td = document.createElement('td');
      td.colSpan = 8; td.className = 'muted'; td.textContent = 'No messages yet.'; tr.appendChild(td); body.appendChild(tr);
    }
  }

  // stats fills the tiles and the tables. The opted-out tile is the timeline's (chart),
  // so that the tile and the chart's line count the same thing.
  function stats(st) {
    var o = st.overall || {};
    text('stat-queued', fmt.format((o.queued || 0) + (o.sending || 0)));
    text('stat-sent', fmt.format(o.sent || 0));
    text('stat-delivered', fmt.format(o.delivered || 0));
    text('stat-read', fmt.format(o.read || 0));
    text('stat-replied', fmt.format(o.replied || 0));
    text('stat-failed', fmt.format(o.failed || 0));
    table('by-variant', st.by_variant, function (k, c) { return k === 'none' ? noneLabel(c, 'variant not chosen yet') : 'Variant ' + (Number(k) + 1); });
    table('by-account', st.by_account, function (k, c) { return k === 'none' ? noneLabel(c, 'not sent yet') : (live.accounts[k] || 'account ' + k); });
  }

  function el(name, attrs) {
    var e = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  function sameDay(a, b) { return a.toDateString() === b.toDateString(); }
  function hhmm(d) { return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }); }
  function day(d) { return d.toLocaleDateString([], { day: 'numeric', month: 'short' }); }
  // when is a short time for people: HH:MM today, else the date with it.
  function when(d) { return sameDay(d, new Date()) ? hhmm(d) : day(d) + ', ' + hhmm(d); }

  // tick formats an axis time: HH:MM, with the date when the chart spans days (the date
  // alone for buckets of a day or more).
  function tick(d, days, daily) {
    if (daily) { return day(d); }
    return days ? day(d) + ' ' + hhmm(d) : hhmm(d);
  }

  // chart draws the cumulative count of each series: from 0 at the first bucket's start
  // to each bucket's total at its end. The SVG is drawn at the figure's own width, so
  // that its text is the page's size on a phone too, with at most 6 time labels.
  function chart(tl) {
    var fig = $('chart');
    var buckets = tl.buckets || [];
    text('stat-opted-out', fmt.format((tl.totals && tl.totals.opted_out) || 0));
    fig.textContent = '';
    if (!buckets.length) {
      var p = document.createElement('p'); p.className = 'muted'; p.textContent = 'Nothing sent yet: the chart starts at the first launch.';
      fig.appendChild(p); text('chart-summary', ''); return;
    }
    var W = Math.max(280, Math.min(1200, Math.round(fig.clientWidth || 720)));
    var H = W < 500 ? 200 : 260, L = 48, R = 16, T = 12, B = 28;
    var step = (tl.bucket_seconds || 60) * 1000;
    var n = buckets.length;
    var t0 = new Date(buckets[0].at).getTime(), t1 = new Date(buckets[n - 1].at).getTime() + step;
    var cum = {}, max = 1;
    series.forEach(function (s) {
      var sum = 0;
      cum[s.key] = [0].concat(buckets.map(function (b) { sum += b[s.key] || 0; return sum; }));
      max = Math.max(max, sum);
    });
    function x(t) { return L + (t - t0) * (W - L - R) / (t1 - t0); }
    function y(v) { return T + (H - T - B) * (1 - v / max); }
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', 'aria-label': 'Messages over time' });
    var ys = max >= 2 ? [0, Math.round(max / 2), max] : [0, max];
    ys.forEach(function (v) {
      svg.appendChild(el('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#d0d7de' }));
      var t = el('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#57606a' });
      t.textContent = fmt.format(v); svg.appendChild(t);
    });
    // The time labels: every k-th bucket edge, at most 6 and fewer on a narrow chart.
    var most = Math.max(2, Math.min(6, Math.floor((W - L - R) / 110) + 1));
    var k = Math.max(1, Math.ceil(n / (most - 1)));
    var days = !sameDay(new Date(t0), new Date(t1 - 1)), daily = step >= 86400000;
    for (var i = 0; i <= n; i += k) {
      var at = t0 + i * step, px = x(at);
      var anchor = i === 0 ? 'start' : (px > W - R - 40 ? 'end' : 'middle');
      svg.appendChild(el('line', { x1: px, x2: px, y1: H - B, y2: H - B + 4, stroke: '#8c959f' }));
      var lbl = el('text', { x: Math.min(px, W - R), y: H - 8, 'text-anchor': anchor, 'font-size': 12, fill: '#57606a' });
      lbl.textContent = tick(new Date(at), days, daily); svg.appendChild(lbl);
    }
    series.forEach(function (s) {
      var pts = cum[s.key].map(function (v, j) { return x(t0 + j * step).toFixed(1) + ',' + y(v).toFixed(1); }).join(' ');
      svg.appendChild(el('polyline', { points: pts, fill: 'none', stroke: s.color, 'stroke-width': 2 }));
    });
    fig.appendChild(svg);
    var legend = $('chart-legend');
    if (!legend.children.length) {
      series.forEach(function (s) {
        var li = document.createElement('li'); var sw = document.createElement('i');
        sw.className = 'swatch-' + s.key; li.appendChild(sw); li.appendChild(document.createTextNode(s.label)); legend.appendChild(li);
      });
    }
    var mins = Math.round(step / 60000);
    var width = mins % 1440 === 0 ? (mins / 1440) + ' day' + (mins === 1440 ? '' : 's')
      : mins % 60 === 0 ? (mins / 60) + ' hour' + (mins === 60 ? '' : 's') : mins + ' minute' + (mins === 1 ? '' : 's');
    text('chart-summary', 'Since ' + when(new Date(tl.from || t0)) + ', in ' + n + (n === 1 ? ' step of ' : ' steps of ') + width + ': ' +
      series.map(function (s) { return fmt.format((tl.totals && tl.totals[s.key]) || 0) + ' ' + s.label.toLowerCase(); }).join(', ') + '.');
  }

  function poll() {
    if (document.hidden) { setTimeout(poll, LIVE_MS); return; }
    window.crier.api('GET', base + '/stats').then(function (res) {
      if (!res.ok) { window.crier.flash((res.data && res.data.detail) || 'The numbers cannot be read now.', true); return ERROR_MS; }
      stats(res.data);
      var done = status(res.data.status);
      return window.crier.api('GET', base + '/timeline').then(function (tr) {
        if (tr.ok) { chart(tr.data); }
        return done ? FINISHED_MS : LIVE_MS;
      });
    }).catch(function () { return ERROR_MS; }).then(function (ms) { setTimeout(poll, ms); });
  }
  poll();
})();
