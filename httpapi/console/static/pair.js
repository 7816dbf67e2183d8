// Crier console: linking a WhatsApp account to its phone, on /accounts/{id}.
//
// "Pair with a QR code" calls POST /v1/accounts/{id}/pair and shows the answer's code as
// an image drawn by Crier itself (/qr.svg?data=...), so the code never goes to another
// site. WhatsApp's QR codes last about a minute and the API gives only a pairing's first
// one, so the script asks for a new pairing shortly before the code runs out (a new
// pairing replaces the one under way), at most maxRounds times. Meanwhile it polls
// GET /v1/accounts/{id} every 2 s until the account is linked, then says "Paired".
// The phone-code alternative asks the same route with {"phone": ...} and shows the
// 8-character code to type on the phone.
(function () {
  'use strict';
  var section = document.getElementById('pairing');
  if (!section || !window.crier) { return; }
  var id = section.dataset.account;
  var pairPath = '/v1/accounts/' + id + '/pair';
  var accountPath = '/v1/accounts/' + id;

  var qrButton = document.getElementById('pair-qr');
  var qrBox = document.getElementById('pair-qr-box');
  var qrImg = document.getElementById('pair-qr-img');
  var countdown = document.getElementById('pair-countdown');
  var phoneForm = document.getElementById('pair-phone-form');
  var phoneCode = document.getElementById('pair-code');
  var status = document.getElementById('pair-status');

  var codeLife = 50;   // seconds a QR code is shown before a new one is asked for
  var maxRounds = 6;   // about five minutes of codes, then the person starts again
  var pollEvery = 2000;

  var refreshTimer = null;
  var tickTimer = null;
  var pollTimer = null;
  var rounds = 0;
  var done = false;

  function say(text) { status.textContent = text; }

  function stopTimers() {
    clearTimeout(refreshTimer); clearInterval(tickTimer); clearTimeout(pollTimer);
    refreshTimer = tickTimer = pollTimer = null;
  }

  // linked reports whether the account as GET shows it is linked to a phone: its
  // connection is no longer waiting for a pairing.
  function linked(a) {
    var c = a && a.connection_status;
    return c === 'connected' || c === 'disconnected' || c === 'banned';
  }

  function paired(a) {
    done = true;
    stopTimers();
    qrBox.hidden = true;
    qrImg.removeAttribute('src');
    phoneCode.hidden = true;
    qrButton.hidden = true;
    say('Paired' + (a && a.phone ? ' with ' + a.phone : '') + '. A worker connects the account within seconds; reload the page to see it.');
    window.crier.flash('Paired.');
    var badge = document.getElementById('account-status');
    if (badge && a && a.status) { badge.textContent = a.status; }
  }

  // poll asks for the account every pollEvery ms until it is linked or the pairing
  // is given up.
  function poll() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(function () {
      window.crier.api('GET', accountPath).then(function (res) {
        if (done) { return; }
        if (res.ok && linked(res.data)) { paired(res.data); return; }
        if (refreshTimer || tickTimer) { poll(); }
      });
    }, pollEvery);
  }

  // countDown shows how long the code on screen lasts, and calls then() when it runs out.
  function countDown(seconds, label, then) {
    clearInterval(tickTimer);
    var left = seconds;
    countdown.textContent = label(left);
    tickTimer = setInterval(function () {
      left--;
      if (left > 0) { countdown.textContent = label(left); return; }
      clearInterval(tickTimer); tickTimer = null;
      then();
    }, 1000);
  }

  function failed(res, form) {
    stopTimers();
    qrBox.hidden = true;
    qrButton.disabled = false;
    if (res.status === 409 && /already paired/.test((res.data && res.data.detail) || '')) {
      window.crier.api('GET', accountPath).then(function (r) { if (r.ok) { paired(r.data); } });
      return;
    }
    say('');
    window.crier.showProblem(form || null, res);
  }

  function askQR() {
    clearTimeout(refreshTimer); refreshTimer = null;
    if (done) { return; }
    rounds++;
    if (rounds > maxRounds) {
      stopTimers();
      qrBox.hidden = true;
      qrImg.removeAttribute('src');
      qrButton.disabled = false;
      qrButton.textContent = 'Pair with a QR code';
      say('No phone scanned the codes in time. Press “Pair with a QR code” to start again.');
      return;
    }
    say(rounds === 1 ? 'Asking WhatsApp for a code…' : 'Asking WhatsApp for a fresh code…');
    window.crier.api('POST', pairPath, {}).then(function (res) {
      if (done) { return; }
      if (!res.ok) { failed(res); return; }
      var life = Math.min(res.data.expires_in_seconds || codeLife, codeLife);
      qrImg.src = '/qr.svg?data=' + encodeURIComponent(res.data.code);
      qrImg.alt = 'QR code that links this account: scan it with WhatsApp on the phone, under Settings → Linked devices → Link a device.';
      qrBox.hidden = false;
      qrButton.disabled = false;
      qrButton.textContent = 'New code now';
      say('Scan the code with the phone. Waiting for the phone…');
      refreshTimer = setTimeout(askQR, life * 1000);
      countDown(life, function (s) { return 'A new code in ' + s + ' s.'; }, function () {});
      poll();
    });
  }

  qrButton.addEventListener('click', function () {
    phoneCode.hidden = true;
    qrButton.disabled = true;
    rounds = 0;
    done = false;
    stopTimers();
    askQR();
  });

  phoneForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    window.crier.clearErrors(phoneForm);
    stopTimers();
    qrBox.hidden = true;
    qrImg.removeAttribute('src');
    qrButton.textContent = 'Pair with a QR code';
    done = false;
    var submit = phoneForm.querySelector('[type=submit]');
    submit.disabled = true;
    say('Asking WhatsApp for a pairing code…');
    var phone = phoneForm.querySelector('[name=phone]').value.trim();
    window.crier.api('POST', pairPath, { phone: phone }).then(function (res) {
      submit.disabled = false;
      if (!res.ok) { failed(res, phoneForm); return; }
      phoneCode.textContent = res.data.code;
      phoneCode.hidden = false;
      say('On the phone, tap the WhatsApp notification (or Linked devices → Link a device → Link with phone number instead) and type this code. Waiting for the phone…');
      var life = res.data.expires_in_seconds || 180;
      countDown(life, function () { return ''; }, function () {
        if (done) { return; }
        stopTimers();
        phoneCode.hidden = true;
        say('The pairing code expired. Ask for a new one.');
      });
      poll();
    });
  });
})();
