// Crier console: the segment builder (/segments/new, /segments/{id}). It lays a saved
// filter out in the form, writes the form back as the API's filter (docs/api.md, "Audience
// filters and segments"), shows the live count of the filter being written (POST
// /v1/segments/count, 500 ms after the last change) and saves with POST /v1/segments or
// PATCH /v1/segments/{id}.
(function () {
  'use strict';
  var form = document.getElementById('segment-form');
  if (!form) { return; }
  var segment = crier.data('segment-data') || { filter: {} };
  var rows = document.getElementById('attribute-rows');
  var rowSeq = 0;

  var ops = [
    ['eq', 'equals'], ['neq', 'differs from'], ['in', 'is one of'], ['exists', 'exists'],
    ['gt', 'greater than / after'], ['gte', 'at least / on or after'],
    ['lt', 'less than / before'], ['lte', 'at most / on or before']
  ];
  var reasons = {
    excluded_tag: 'has an excluded tag', invalid_phone: 'invalid phone number', suppressed: 'suppressed',
    no_consent: 'no consent', withdrawn: 'consent withdrawn', frequency_capped: 'frequency cap reached',
    local_time_passed: 'local time passed'
  };

  function num(n) { return Number(n || 0).toLocaleString('en').replace(/,/g, '\u202f'); }

  // A cell's text as a JSON value: a plain number, true/false, a quoted string as JSON,
  // anything else as the text it is (dates stay strings: the API compares them as dates).
  var plainNumber = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;
  function scalar(s) {
    s = s.trim();
    if (plainNumber.test(s)) { return Number(s); }
    if (s === 'true' || s === 'false') { return s === 'true'; }
    if (s.charAt(0) === '"') { try { return JSON.parse(s); } catch (e) { return s; } }
    return s;
  }
  function parseValue(op, text) {
    text = text.trim();
    if (text === '') { return undefined; }
    if (op === 'in') {
      if (text.charAt(0) === '[') { try { return JSON.parse(text); } catch (e) { return text; } }
      return text.split(',').map(function (s) { return s.trim(); }).filter(Boolean).map(scalar);
    }
    return scalar(text);
  }
  // showValue is parseValue's inverse: what to write in the cell for a stored value.
  function showScalar(v) {
    if (typeof v !== 'string') { return JSON.stringify(v); }
    return scalar(v) === v && v.charAt(0) !== '"' ? v : JSON.stringify(v);
  }
  function showValue(op, v) {
    if (v === undefined || v === null) { return ''; }
    if (Array.isArray(v)) {
      var plain = v.every(function (x) { return typeof x !== 'string' || (x.indexOf(',') < 0 && x.trim() === x && x !== ''); });
      return plain ? v.map(showScalar).join(', ') : JSON.stringify(v);
    }
    return showScalar(v);
  }

  function field(labelText, input) {
    var wrap = document.createElement('div');
    var label = document.createElement('label');
    label.htmlFor = input.id;
    label.textContent = labelText;
    wrap.appendChild(label);
    wrap.appendChild(input);
    return wrap;
  }

  // addRow adds a condition row (key, operator, value, remove), filled from c if given.
  function addRow(c) {
    c = c || { key: '', op: 'eq' };
    var n = ++rowSeq;
    var row = document.createElement('div');
    row.className = 'row attr-row';
    var key = document.createElement('input');
    key.id = 'attr-key-' + n; key.autocomplete = 'off'; key.maxLength = 64; key.value = c.key || '';
    key.dataset.part = 'key';
    var op = document.createElement('select');
    op.id = 'attr-op-' + n; op.dataset.part = 'op';
    ops.forEach(function (o) {
      var opt = document.createElement('option');
      opt.value = o[0]; opt.textContent = o[1];
      op.appendChild(opt);
    });
    op.value = c.op || 'eq';
    var value = document.createElement('input');
    value.id = 'attr-value-' + n; value.autocomplete = 'off'; value.dataset.part = 'value';
    value.setAttribute('aria-describedby', 'attribute-hint');
    value.value = showValue(c.op, c.value);
    var remove = document.createElement('button');
    remove.type = 'button'; remove.className = 'attr-remove'; remove.textContent = 'Remove';
    remove.setAttribute('aria-label', 'Remove this condition');
    remove.addEventListener('click', function () {
      row.remove();
      renumber();
      changed();
    });
    row.appendChild(field('Attribute', key));
    row.appendChild(field('Condition', op));
    row.appendChild(field('Value', value));
    row.appendChild(remove);
    rows.appendChild(row);
    renumber();
    return key;
  }

  // renumber names each row's inputs by its position, as the API's field errors do
  // (filter.attributes[1].value), so that an error appears beside its field.
  function renumber() {
    rows.querySelectorAll('.attr-row').forEach(function (row, i) {
      row.querySelectorAll('[data-part]').forEach(function (el) {
        el.name = 'filter.attributes[' + i + '].' + el.dataset.part;
      });
    });
  }

  function list(id) {
    return document.getElementById(id).value.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
  }
  function days(id) {
    var v = document.getElementById(id).value.trim();
    return v === '' ? undefined : parseInt(v, 10);
  }

  // filter writes the form as the API's filter. A condition row without a key or a value
  // is left out until it has one, so a half-written row does not stop the count.
  function filter() {
    var f = { tags_any: list('tags-any'), tags_all: list('tags-all'), exclude_tags: list('exclude-tags') };
    var attrs = [];
    rows.querySelectorAll('.attr-row').forEach(function (row) {
      var key = row.querySelector('[data-part=key]').value.trim();
      var op = row.querySelector('[data-part=op]').value;
      var text = row.querySelector('[data-part=value]').value;
      if (!key && !text.trim()) { return; }
      var c = { key: key, op: op };
      var v = parseValue(op, text);
      if (v !== undefined) { c.value = v; }
      attrs.push(c);
    });
    if (attrs.length) { f.attributes = attrs; }
    var countries = list('countries');
    if (countries.length) { f.countries = countries; }
    var locales = list('locales');
    if (locales.length) { f.locales = locales; }
    var consent = days('consent-within-days');
    if (consent !== undefined) { f.consent_within_days = consent; }
    var engaged = days('engaged-within-days');
    if (engaged !== undefined) { f.engaged_within_days = engaged; }
    if (document.getElementById('never-engaged').checked) { f.never_engaged = true; }
    return f;
  }

  // The live count: the latest request wins; an earlier answer that comes late is dropped.
  var timer = null;
  var seq = 0;
  function showCount(c) {
    document.getElementById('count-matched').textContent = c ? num(c.matched) : '—';
    document.getElementById('count-eligible').textContent = c ? num(c.eligible) : '—';
    var dl = document.getElementById('exclusions');
    dl.textContent = '';
    if (!c) { return; }
    var keys = Object.keys(c.excluded || {}).sort(function (a, b) { return c.excluded[b] - c.excluded[a]; });
    if (!keys.length) {
      var none = document.createElement('dd');
      none.className = 'muted';
      none.textContent = 'nobody';
      dl.appendChild(none);
    }
    keys.forEach(function (k) {
      var dt = document.createElement('dt');
      dt.textContent = reasons[k] || k;
      dt.title = k;
      var dd = document.createElement('dd');
      dd.textContent = num(c.excluded[k]);
      dd.dataset.reason = k;
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
  }
  function count() {
    var mine = ++seq;
    var note = document.getElementById('count-note');
    note.textContent = 'Counting…';
    crier.api('POST', '/v1/segments/count', { filter: filter() }).then(function (res) {
      if (mine !== seq) { return; }
      if (res.ok) {
        showCount(res.data);
        note.textContent = '';
        return;
      }
      showCount(null);
      var p = res.data || {};
      var first = (p.errors || [])[0];
      note.textContent = first ? first.field.replace(/^filter\.?/, '') + (first.field === 'filter' ? '' : ': ') + first.message
        : (p.detail || 'The audience cannot be counted now.');
    });
  }
  function changed() {
    clearTimeout(timer);
    timer = setTimeout(count, 500);
  }

  // A list's error names an entry (filter.countries[2]); show it beside the list's input.
  function toInputs(res) {
    var p = res.data || {};
    (p.errors || []).forEach(function (fe) {
      if (form.querySelector('[name="' + CSS.escape(fe.field) + '"]')) { return; }
      var m = /^(.*)\[(\d+)\]$/.exec(fe.field);
      if (m && form.querySelector('[name="' + CSS.escape(m[1]) + '"]')) {
        fe.message = 'entry ' + (Number(m[2]) + 1) + ': ' + fe.message;
        fe.field = m[1];
      }
    });
    return res;
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var save = document.getElementById('segment-save');
    if (!save) { return; }
    crier.clearErrors(form);
    var id = form.dataset.segmentId;
    var body = { name: document.getElementById('segment-name').value, description: document.getElementById('segment-description').value, filter: filter() };
    var call = id && id !== '0' ? crier.api('PATCH', '/v1/segments/' + encodeURIComponent(id), body) : crier.api('POST', '/v1/segments', body);
    save.disabled = true;
    call.then(function (res) {
      save.disabled = false;
      if (!res.ok) { crier.showProblem(form, toInputs(res)); return; }
      location.assign('/segments/' + encodeURIComponent(res.data.id));
    });
  });
  form.addEventListener('input', function (ev) {
    if (ev.target.id !== 'segment-name' && ev.target.id !== 'segment-description') { changed(); }
  });
  form.addEventListener('change', function (ev) {
    if (ev.target.tagName === 'SELECT' || ev.target.type === 'checkbox') { changed(); }
  });
  document.getElementById('attribute-add').addEventListener('click', function () {
    addRow().focus();
  });

  (segment.filter.attributes || []).forEach(addRow);
  if (segment.id) {
    count();
  } else {
    showCount(null);
    document.getElementById('count-note').textContent = 'Give tags, attributes, countries or locales to see who matches.';
  }
})();
