// Crier console, /users: shows a new sign-in link once, in a read-only field to copy.
// The link's token is not kept anywhere but in this page's field.
(function () {
  'use strict';
  document.addEventListener('crier:done', function (ev) {
    var b = ev.target;
    if (!b.dataset || b.dataset.linkFor === undefined) { return; }
    var box = document.getElementById('link-out');
    var input = document.getElementById('link-url');
    box.querySelector('.link-who').textContent = b.dataset.linkFor;
    box.querySelector('.link-expires').textContent = new Date(ev.detail.data.expires_at).toLocaleString();
    input.value = ev.detail.data.url;
    box.hidden = false;
    input.focus();
    input.select();
  });
})();
