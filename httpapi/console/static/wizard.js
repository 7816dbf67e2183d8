// The campaign wizard (/campaigns/new): six steps over one form. Step 5 saves the campaign
// as a draft through the API (POST /v1/campaigns, or PATCH when the user came back to
// change it) and shows the API's preview (POST /v1/campaigns/{id}/preview); step 6
// schedules it (POST /v1/campaigns/{id}/schedule) and opens its live page. The API's field
// errors appear beside the fields, on the step that holds them.
(function () {
  'use strict';
  var form = document.getElementById('wizard');
  if (!form) { return; }
  var data = window.crier.data('wizard-data') || { templates: [] };
  var sections = Array.prototype.slice.call(form.querySelectorAll('section[data-step]'));
  var marks = Array.prototype.slice.call(document.querySelectorAll('#wizard-steps li'));
  var back = document.getElementById('wizard-back');
  var next = document.getElementById('wizard-next');
  var current = 1;
  var campaignID = 0;

  function $(id) { return document.getElementById(id); }
  function checked(id) { var el = $(id); return !!(el && el.checked); }
  function list(id) {
    return ($(id).value || '').split(',').map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function show(step) {
    current = step;
    sections.forEach(function (s) { s.hidden = Number(s.dataset.step) !== step; });
    marks.forEach(function (m) {
      if (Number(m.dataset.step) === step) { m.setAttribute('aria-current', 'step'); } else { m.removeAttribute('aria-current'); }
    });
    back.disabled = step === 1;
    next.hidden = step === 6;
    var h = sections[step - 1].querySelector('h2');
    if (h) { h.tabIndex = -1; h.focus(); }
  }

  // Fields shown only for the chosen audience and schedule type.
  function toggles() {
    var seg = checked('audience-segment');
    $('audience-segment-fields').hidden = !seg;
    $('audience-tags-fields').hidden = seg;
    $('schedule-at-fields').hidden = !checked('schedule-at');
    $('schedule-cron-fields').hidden = !checked('schedule-cron');
  }
  form.addEventListener('change', toggles);
  toggles();

  // The chosen template's variants, by locale.
  function variants() {
    var box = $('template-variants');
    box.textContent = '';
    var id = Number($('template-select').value);
    var t = (data.templates || []).filter(function (x) { return x.id === id; })[0];
    if (!t) { return; }
    t.locales.forEach(function (l) {
      var h = document.createElement('h3');
      h.textContent = l.locale + ': ' + l.variants.length + (l.variants.length === 1 ? ' variant' : ' variants');
      box.appendChild(h);
      l.variants.forEach(function (v, i) {
        var p = document.createElement('p');
        p.className = 'preview';
        p.setAttribute('aria-label', 'Variant ' + (i + 1));
        p.textContent = v + (l.footer ? '\n\n' + l.footer : '');
        box.appendChild(p);
      });
    });
  }
  $('template-select').addEventListener('change', variants);
  variants();

  // body is the campaign as the API reads it.
  function body() {
    var b = { name: $('campaign-name').value.trim(), rotation: $('rotation').value };
    var tpl = parseInt($('template-select').value, 10);
    if (tpl) { b.template_id = tpl; }
    b.account_ids = Array.prototype.slice.call(form.querySelectorAll('input[name=account_ids]:checked'))
      .map(function (el) { return parseInt(el.value, 10); });
    if ($('rate').value !== '') { b.rate_per_minute = parseInt($('rate').value, 10); }
    if (checked('audience-segment')) {
      b.audience = { segment_id: parseInt($('segment-select').value, 10) || 0 };
    } else {
      b.audience = { tags_any: list('tags-any'), tags_all: list('tags-all'), exclude_tags: list('tags-exclude') };
    }
    var s = { type: checked('schedule-at') ? 'at' : checked('schedule-cron') ? 'cron' : 'now' };
    if (s.type === 'at' && $('schedule-at-time').value) {
      var d = new Date($('schedule-at-time').value);
      s.at = isNaN(d) ? $('schedule-at-time').value : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
    if (s.type === 'cron') { s.cron = $('schedule-cron-expr').value.trim(); }
    if ($('schedule-timezone').value.trim()) { s.timezone = $('schedule-timezone').value.trim(); }
    if ($('schedule-local-time').value) { s.local_time = $('schedule-local-time').value; }
    if (checked('schedule-skip-past')) { s.skip_past_local = true; }
    b.schedule = s;
    b.quiet_hours = { start: $('quiet-start').value, end: $('quiet-end').value };
    return b;
  }

  // readable writes an API time (RFC 3339) for people, in the browser's zone: 5 Dec 2026, 18:15.
  function readable(iso) {
    var d = new Date(iso);
    if (!iso || isNaN(d)) { return 'the next run'; }
    return d.toLocaleString([], { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  }

  // stepOf says which step holds an API field.
  function stepOf(field) {
    if (/^(name|audience)/.test(field)) { return 1; }
    if (/^template/.test(field)) { return 2; }
    if (/^(account_ids|rotation|rate_per_minute)/.test(field)) { return 3; }
    if (/^(schedule|quiet_hours)/.test(field)) { return 4; }
    return current;
  }

  function failed(res) {
    window.crier.showProblem(form, res);
    var errs = (res.data && res.data.errors) || [];
    if (errs.length) { show(stepOf(errs[0].field)); }
  }

  function review(p) {
    $('review-eligible').textContent = String(p.eligible);
    $('review-matched').textContent = String(p.matched);
    var ul = $('review-excluded');
    ul.textContent = '';
    Object.keys(p.excluded || {}).forEach(function (k) {
      var li = document.createElement('li');
      li.textContent = k.replace(/_/g, ' ') + ': ' + p.excluded[k];
      ul.appendChild(li);
    });
    if (!ul.children.length) { var li = document.createElement('li'); li.textContent = 'nobody'; ul.appendChild(li); }
    var box = $('review-samples');
    box.textContent = '';
    (p.samples || []).forEach(function (s) {
      var h = document.createElement('p');
      h.className = 'muted';
      h.textContent = s.phone + ' · ' + s.locale + ' · variant ' + (s.variant + 1);
      var m = document.createElement('p');
      m.className = s.error ? 'alert' : 'preview';
      m.textContent = s.error || s.text;
      box.appendChild(h); box.appendChild(m);
    });
    if (!box.children.length) { box.textContent = 'No eligible contact to render a sample for.'; }
  }

  // save creates the draft, or updates it, then previews it.
  function save() {
    window.crier.clearErrors(form);
    next.disabled = true;
    var req = campaignID ? window.crier.api('PATCH', '/v1/campaigns/' + campaignID, body())
      : window.crier.api('POST', '/v1/campaigns', body());
    return req.then(function (res) {
      if (!res.ok) { next.disabled = false; failed(res); return; }
      campaignID = res.data.id;
      $('review-status').textContent = 'Saved as draft campaign ' + campaignID + '. Counting its audience…';
      show(5);
      return window.crier.api('POST', '/v1/campaigns/' + campaignID + '/preview').then(function (pr) {
        next.disabled = false;
        if (!pr.ok) { window.crier.showProblem(form, pr); return; }
        $('review-status').textContent = 'Saved as draft campaign ' + campaignID + '. Its audience is counted for a launch on ' + readable(pr.data.run_at) + '.';
        review(pr.data);
      });
    });
  }

  next.addEventListener('click', function () {
    if (current === 4) { save(); return; }
    if (current === 1 && !$('campaign-name').value.trim()) {
      window.crier.showProblem(form, { status: 422, data: { detail: 'Give the campaign a name.', errors: [{ field: 'name', message: 'is required' }] } });
      return;
    }
    if (current < 6) { show(current + 1); }
  });
  back.addEventListener('click', function () { if (current > 1) { show(current - 1); } });

  $('campaign-schedule').addEventListener('click', function () {
    var b = $('campaign-schedule');
    if (!campaignID) { show(4); return; }
    b.disabled = true;
    window.crier.api('POST', '/v1/campaigns/' + campaignID + '/schedule').then(function (res) {
      b.disabled = false;
      if (!res.ok) { failed(res); return; }
      location.assign('/campaigns/' + campaignID);
    });
  });
  form.addEventListener('submit', function (ev) { ev.preventDefault(); });
})();
