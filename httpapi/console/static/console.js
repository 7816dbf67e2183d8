// Crier console: the one script every page loads. It sends every change to the JSON API
// (/v1) with the session's CSRF token, and shows the API's field errors beside the fields.
// Page scripts use window.crier.api and window.crier.flash.
//
// Markup it understands:
//   <form data-api="POST /v1/segments" data-next="/segments/{id}">   submit as JSON
//     <input name="audience.tags_any" data-type="list">               "a, b" -> ["a","b"]
//       data-type: int, number, list, json, bool (a checkbox), lines (one per line)
//     <p data-error-for="audience.tags_any"></p>                       where its error goes
//   data-next: where to go after success ({id} and other fields of the answer fill in);
//   none: reload. data-confirm="Really?": ask first (a <dialog>, keyboard-friendly).
//   <button data-api="POST /v1/campaigns/3/pause" data-confirm="...">  a one-click change
(function () {
  'use strict';
  var csrf = (document.querySelector('meta[name=csrf-token]') || {}).content || '';

  // api calls the JSON API and resolves to {ok, status, data}; data is the JSON answer or
  // the problem+json document. body may be an object (sent as JSON), FormData or a Blob.
  function api(method, path, body, headers) {
    var opts = { method: method, headers: Object.assign({ 'X-CSRF-Token': csrf, 'Accept': 'application/json' }, headers || {}), credentials: 'same-origin' };
    if (body !== undefined && body !== null) {
      if (body instanceof FormData || body instanceof Blob || typeof body === 'string') {
        opts.body = body;
      } else {
        opts.body = JSON.stringify(body);
        opts.headers['Content-Type'] = 'application/json';
      }
    }
    return fetch(path, opts).then(function (res) {
      var ct = res.headers.get('Content-Type') || '';
      var parse = ct.indexOf('json') >= 0 ? res.json() : res.text();
      return parse.then(function (data) { return { ok: res.ok, status: res.status, data: data }; });
    }, function () {
      return { ok: false, status: 0, data: { detail: 'Crier cannot be reached. Check your connection and try again.' } };
    });
  }

  function flash(text, bad) {
    var el = document.getElementById('flash');
    if (!el) { return; }
    el.textContent = text;
    el.className = bad ? 'flash bad' : 'flash';
    el.hidden = !text;
    if (bad) { el.setAttribute('role', 'alert'); } else { el.setAttribute('role', 'status'); }
  }

  // set puts value at a dotted path: set(o, "audience.tags_any", [...]).
  function set(obj, path, value) {
    var parts = path.split('.');
    var o = obj;
    for (var i = 0; i < parts.length - 1; i++) {
      if (typeof o[parts[i]] !== 'object' || o[parts[i]] === null) { o[parts[i]] = {}; }
      o = o[parts[i]];
    }
    o[parts[parts.length - 1]] = value;
  }

  function typed(el) {
    var t = el.dataset.type || '';
    var v = el.value;
    if (el.type === 'checkbox') {
      if (t === 'list') { return el.checked ? [el.value] : undefined; }
      return el.checked;
    }
    if (v === '' && t !== 'string') { return undefined; }
    switch (t) {
      case 'int': return parseInt(v, 10);
      case 'number': return Number(v);
      case 'list': return v.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
      case 'lines': return v.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
      case 'json': try { return JSON.parse(v); } catch (e) { return v; }
      case 'bool': return v === 'true';
    }
    return v;
  }

  // formJSON turns a form into the API's JSON: dotted names nest, checkboxes with the
  // same name and data-type=list collect into one array.
  function formJSON(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.name === 'csrf' || el.dataset.skip !== undefined) { return; }
      if (el.type === 'radio' && !el.checked) { return; }
      var v = typed(el);
      if (v === undefined) { return; }
      if (el.type === 'checkbox' && el.dataset.type === 'list') {
        var cur = out;
        el.name.split('.').forEach(function (p) { cur = cur && cur[p]; });
        v = (Array.isArray(cur) ? cur : []).concat(v);
      }
      set(out, el.name, v);
    });
    return out;
  }

  function clearErrors(form) {
    form.querySelectorAll('[data-error-for], .field-error.generated').forEach(function (el) {
      if (el.classList.contains('generated')) { el.remove(); } else { el.textContent = ''; }
    });
    form.querySelectorAll('[aria-invalid]').forEach(function (el) { el.removeAttribute('aria-invalid'); });
    var alert = form.querySelector('.form-alert');
    if (alert) { alert.hidden = true; alert.textContent = ''; }
  }

  // showProblem writes a problem's detail in the form's alert and each field error beside
  // its field (by data-error-for, else after the input of that name).
  function showProblem(form, res) {
    var p = res.data || {};
    var detail = (p && p.detail) || ('The request failed (' + res.status + ').');
    var alert = form && form.querySelector('.form-alert');
    if (alert) { alert.textContent = detail; alert.hidden = false; } else { flash(detail, true); }
    (p.errors || []).forEach(function (fe) {
      if (!form) { return; }
      var slot = form.querySelector('[data-error-for="' + CSS.escape(fe.field) + '"]');
      var input = form.querySelector('[name="' + CSS.escape(fe.field) + '"]');
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        if (!slot) {
          slot = document.createElement('p');
          slot.className = 'field-error generated';
          slot.id = 'err-' + fe.field.replace(/[^a-zA-Z0-9_-]/g, '-');
          input.insertAdjacentElement('afterend', slot);
          input.setAttribute('aria-describedby', slot.id);
        }
      }
      if (slot) { slot.textContent = fe.message; } else if (alert) { alert.textContent += ' ' + fe.field + ': ' + fe.message + '.'; }
    });
  }

  function fill(template, data) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return data && data[k] !== undefined ? encodeURIComponent(data[k]) : ''; });
  }

  // confirmFirst shows a modal <dialog> with the question and resolves true on "Yes".
  function confirmFirst(question, danger) {
    if (!question) { return Promise.resolve(true); }
    return new Promise(function (resolve) {
      var d = document.createElement('dialog');
      d.setAttribute('aria-label', 'Confirm');
      var p = document.createElement('p'); p.textContent = question; d.appendChild(p);
      var row = document.createElement('div'); row.className = 'actions';
      var yes = document.createElement('button'); yes.type = 'button'; yes.textContent = 'Yes, go ahead'; yes.className = danger ? 'danger' : 'primary';
      var no = document.createElement('button'); no.type = 'button'; no.textContent = 'Cancel';
      row.appendChild(yes); row.appendChild(no); d.appendChild(row);
      document.body.appendChild(d);
      function done(v) { d.close(); d.remove(); resolve(v); }
      yes.addEventListener('click', function () { done(true); });
      no.addEventListener('click', function () { done(false); });
      d.addEventListener('cancel', function () { done(false); });
      d.showModal();
      no.focus();
    });
  }

  function split(spec) { var i = spec.indexOf(' '); return [spec.slice(0, i), spec.slice(i + 1)]; }

  function after(el, res) {
    if (el.dataset.next) { location.assign(fill(el.dataset.next, res.data)); return; }
    if (el.dataset.done) { flash(el.dataset.done); }
    if (el.dataset.stay === undefined) { location.reload(); }
  }

  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.api) { return; }
    ev.preventDefault();
    var mp = split(form.dataset.api);
    var body = form.dataset.body === 'none' ? undefined : formJSON(form);
    var submit = form.querySelector('[type=submit]');
    confirmFirst(form.dataset.confirm, form.dataset.danger !== undefined).then(function (yes) {
      if (!yes) { return; }
      clearErrors(form);
      if (submit) { submit.disabled = true; }
      api(mp[0], fill(mp[1], body), body).then(function (res) {
        if (submit) { submit.disabled = false; }
        if (!res.ok) { showProblem(form, res); return; }
        form.dispatchEvent(new CustomEvent('crier:done', { detail: res, bubbles: true }));
        after(form, res);
      });
    });
  });

  document.addEventListener('click', function (ev) {
    var b = ev.target.closest && ev.target.closest('button[data-api]');
    if (!b || b.form && b.form.dataset.api) { return; }
    ev.preventDefault();
    var mp = split(b.dataset.api);
    var body = b.dataset.json ? JSON.parse(b.dataset.json) : undefined;
    confirmFirst(b.dataset.confirm, b.classList.contains('danger')).then(function (yes) {
      if (!yes) { return; }
      b.disabled = true;
      api(mp[0], mp[1], body).then(function (res) {
        b.disabled = false;
        if (!res.ok) { showProblem(b.closest('form'), res); return; }
        b.dispatchEvent(new CustomEvent('crier:done', { detail: res, bubbles: true }));
        after(b, res);
      });
    });
  });

  // Tabs: role=tablist with role=tab buttons whose aria-controls name their panels;
  // arrow keys move between them.
  function selectTab(tab) {
    var list = tab.closest('[role=tablist]');
    list.querySelectorAll('[role=tab]').forEach(function (t) {
      var on = t === tab;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      var panel = document.getElementById(t.getAttribute('aria-controls'));
      if (panel) { panel.hidden = !on; }
    });
  }
  document.addEventListener('click', function (ev) {
    var t = ev.target.closest && ev.target.closest('[role=tab]');
    if (t) { ev.preventDefault(); selectTab(t); }
  });
  document.addEventListener('keydown', function (ev) {
    var t = ev.target.closest && ev.target.closest('[role=tab]');
    if (!t || (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft')) { return; }
    var tabs = Array.prototype.slice.call(t.closest('[role=tablist]').querySelectorAll('[role=tab]'));
    var i = tabs.indexOf(t) + (ev.key === 'ArrowRight' ? 1 : -1);
    var next = tabs[(i + tabs.length) % tabs.length];
    selectTab(next); next.focus();
  });

  // data reads a page's <script type="application/json" id="..."> block.
  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  window.crier = { api: api, flash: flash, formJSON: formJSON, showProblem: showProblem, clearErrors: clearErrors, confirm: confirmFirst, data: data, selectTab: selectTab };
})();
