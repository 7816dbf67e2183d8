// A draft campaign's page: preview the audience (POST /v1/campaigns/{id}/preview) before
// the Schedule button (a data-api button of console.js) launches it.
(function () {
  'use strict';
  var box = document.getElementById('draft');
  if (!box) { return; }
  var id = box.dataset.campaign;
  function $(x) { return document.getElementById(x); }
  function add(parent, tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    e.textContent = text;
    parent.appendChild(e);
    return e;
  }
  $('draft-preview').addEventListener('click', function () {
    var b = this;
    b.disabled = true;
    window.crier.api('POST', '/v1/campaigns/' + id + '/preview').then(function (res) {
      b.disabled = false;
      if (!res.ok) { window.crier.flash((res.data && res.data.detail) || 'The preview failed.', true); return; }
      var p = res.data;
      $('draft-eligible').textContent = p.eligible;
      $('draft-matched').textContent = p.matched;
      var ul = $('draft-excluded');
      ul.textContent = '';
      Object.keys(p.excluded || {}).forEach(function (k) { add(ul, 'li', '', k.replace(/_/g, ' ') + ': ' + p.excluded[k]); });
      if (!ul.children.length) { add(ul, 'li', '', 'nobody'); }
      var samples = $('draft-samples');
      samples.textContent = '';
      (p.samples || []).forEach(function (s) {
        add(samples, 'p', 'muted', s.phone + ' · ' + s.locale + ' · variant ' + (s.variant + 1));
        add(samples, 'p', s.error ? 'alert' : 'preview', s.error || s.text);
      });
      if (!samples.children.length) { samples.textContent = 'No eligible contact to render a sample for.'; }
      $('draft-preview-out').hidden = false;
    });
  });
})();
