// Contact page: erasure behind a typed confirmation. The danger button stays disabled
// until the box says ERASE; the erasure itself is the API's POST /v1/contacts/{id}/erase.
(function () {
  'use strict';
  var form = document.getElementById('erase-form');
  if (!form) { return; }
  var input = document.getElementById('erase-confirm');
  var button = document.getElementById('erase-button');
  var result = document.getElementById('erase-result');

  function armed() { return input.value.trim() === 'ERASE'; }
  input.addEventListener('input', function () { button.disabled = !armed(); });

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (!armed()) { input.focus(); return; }
    window.crier.clearErrors(form);
    button.disabled = true;
    window.crier.api('POST', '/v1/contacts/' + encodeURIComponent(form.dataset.contact) + '/erase').then(function (res) {
      if (!res.ok) {
        button.disabled = !armed();
        window.crier.showProblem(form, res);
        return;
      }
      form.hidden = true;
      result.hidden = false;
      result.textContent = '';
      var p = document.createElement('span');
      p.textContent = 'Contact ' + res.data.contact_id + ' was erased. ';
      var a = document.createElement('a');
      a.href = '/contacts';
      a.textContent = 'Back to the contacts';
      result.appendChild(p);
      result.appendChild(a);
      window.crier.flash('The contact was erased.');
    });
  });
})();
