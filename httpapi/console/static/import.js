// Crier console: CSV imports. On /imports/new it uploads the file to the API (POST
// /v1/contacts/import) with XMLHttpRequest, whose upload progress fetch cannot report, then
// goes to the import's page. On /imports/{id} it follows the import (GET /v1/imports/{id}
// every second) until it ends, then reloads the page, which the server renders in full.
(function () {
  'use strict';
  var csrf = (document.querySelector('meta[name=csrf-token]') || {}).content || '';

  function num(n) { return Number(n || 0).toLocaleString('en').replace(/,/g, '\u202f'); }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }

  // query builds the import's options as the API reads them (?default_country=&tags=&
  // consent_source=), leaving out the empty ones.
  function query(form) {
    var q = new URLSearchParams();
    ['default_country', 'tags', 'consent_source'].forEach(function (name) {
      var el = form.elements[name];
      var v = el ? el.value.trim() : '';
      if (v) { q.set(name, v); }
    });
    var s = q.toString();
    return s ? '?' + s : '';
  }

  function parse(xhr) {
    try { return JSON.parse(xhr.responseText); } catch (e) { return { detail: xhr.responseText || '' }; }
  }

  function upload(form) {
    var input = document.getElementById('csv-file');
    var bar = document.getElementById('import-progress');
    var submit = document.getElementById('import-submit');
    var file = input.files && input.files[0];
    crier.clearErrors(form);
    if (!file) {
      crier.showProblem(form, { status: 422, data: { detail: 'Choose a CSV file first.', errors: [{ field: 'file', message: 'choose a file' }] } });
      return;
    }
    var max = Number(form.dataset.maxBytes || 0);
    if (max && file.size > max) {
      crier.showProblem(form, { status: 413, data: { detail: 'The file is ' + num(file.size) + ' bytes; the most is ' + num(max) + '. Split it and import the parts.' } });
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/contacts/import' + query(form));
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.setRequestHeader('Content-Type', 'text/csv');
    xhr.setRequestHeader('Accept', 'application/json');
    // A short wait: a small file is done (or refused, with its field) by the answer; a
    // large one goes on in the background and its page follows it.
    xhr.setRequestHeader('Prefer', 'wait=2');
    xhr.upload.onprogress = function (ev) {
      if (!ev.lengthComputable) { bar.removeAttribute('value'); return; }
      bar.max = ev.total;
      bar.value = ev.loaded;
      setText('upload-status', 'Uploading: ' + Math.floor(100 * ev.loaded / ev.total) + ' % of ' + num(ev.total) + ' bytes');
    };
    xhr.upload.onload = function () {
      bar.removeAttribute('value'); // indeterminate: the server is reading the file
      setText('upload-status', 'Uploaded. Importing…');
    };
    xhr.onload = function () {
      var data = parse(xhr);
      if (xhr.status >= 200 && xhr.status < 300 && data.import_id) {
        location.assign('/imports/' + encodeURIComponent(data.import_id));
        return;
      }
      submit.disabled = false;
      bar.value = 0;
      setText('upload-status', '');
      crier.showProblem(form, { ok: false, status: xhr.status, data: data });
    };
    xhr.onerror = function () {
      submit.disabled = false;
      bar.value = 0;
      setText('upload-status', '');
      crier.showProblem(form, { ok: false, status: 0, data: { detail: 'The upload failed: Crier cannot be reached. Check your connection and try again.' } });
    };
    submit.disabled = true;
    bar.value = 0;
    setText('upload-status', 'Starting the upload…');
    xhr.send(file);
  }

  var form = document.getElementById('import-form');
  if (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      upload(form);
    });
  }

  // The import's page: poll while it runs.
  var job = crier.data('import-data');
  if (!job || job.status === 'done' || job.status === 'failed') { return; }
  var path = '/v1/imports/' + encodeURIComponent(job.import_id);
  function show(j) {
    var status = document.getElementById('import-status');
    if (status) { status.textContent = j.status; status.dataset.status = j.status; }
    setText('import-rows-read', num(j.rows));
    setText('rows-count', num(j.rows));
    setText('created-count', num(j.created));
    setText('updated-count', num(j.updated));
    setText('unchanged-count', num(j.unchanged));
    setText('rejected-count', num(j.rejected_count));
    setText('duplicates-count', num(j.duplicates_count));
  }
  function poll() {
    crier.api('GET', path).then(function (res) {
      if (!res.ok) {
        crier.flash((res.data && res.data.detail) || 'The import cannot be read now; retrying.', true);
        setTimeout(poll, 3000);
        return;
      }
      show(res.data);
      if (res.data.status === 'done' || res.data.status === 'failed') {
        location.reload(); // the server renders the lists and the reject report's link
        return;
      }
      setTimeout(poll, 1000);
    });
  }
  setTimeout(poll, 1000);
})();
