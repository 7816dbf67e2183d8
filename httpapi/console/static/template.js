// Crier console: the template editor (/templates/new, /templates/{id}). The page renders the
// template as locale tabs with their variants; this script adds and removes locales and
// variants, keeps the inputs named as the API's fields (locales[1].variants[0].body) so that
// its field errors land beside them, shows a live opt-out footer hint per variant, saves
// through POST /v1/templates or PUT /v1/templates/{id}, and previews the saved template
// through POST /v1/templates/{id}/preview, 500 ms after the contact is typed.
(function () {
  'use strict';
  var form = document.getElementById('template-form');
  if (!form || !window.crier) { return; }
  var crier = window.crier;
  var page = crier.data('template-data') || {};
  var rule = page.footer || { defaults: {}, keywords: [] };
  var readonly = form.dataset.readonly !== undefined;
  var tabs = document.getElementById('locale-tabs');
  var category = document.getElementById('template-category');
  var addVariantButton = document.getElementById('add-variant');
  var addLocaleButton = document.getElementById('add-locale');
  var saveButton = document.getElementById('template-save');
  var dirty = false;

  function panels() { return Array.prototype.slice.call(form.querySelectorAll('.locale-panel')); }
  function tabList() { return Array.prototype.slice.call(tabs.querySelectorAll('[role=tab]')); }
  function each(root, sel, fn) { Array.prototype.forEach.call(root.querySelectorAll(sel), fn); }

  // The Cloud API bindings travel with their panels, whatever is added or removed around them.
  panels().forEach(function (p, i) { p.cloud = (page.cloud || [])[i] || null; });

  function selectedPanel() {
    var t = tabs.querySelector('[role=tab][aria-selected=true]') || tabList()[0];
    return t ? document.getElementById(t.getAttribute('aria-controls')) : panels()[0];
  }

  // renumber names every input after its place, as the API names its fields, and keeps the
  // ids, labels and tabs in step.
  function renumber() {
    var ts = tabList();
    var ps = panels();
    ps.forEach(function (p, i) {
      var t = ts[i];
      p.id = 'locale-' + i;
      t.id = 'tab-' + i;
      t.setAttribute('aria-controls', p.id);
      p.setAttribute('aria-labelledby', t.id);
      name(p.querySelector('.locale-tag'), 'locale-' + i + '-tag', 'locales[' + i + '].locale');
      name(p.querySelector('.locale-footer'), 'locale-' + i + '-footer', 'locales[' + i + '].footer');
      p.querySelector('.variants-error').setAttribute('data-error-for', 'locales[' + i + '].variants');
      var vs = p.querySelectorAll('.variant');
      Array.prototype.forEach.call(vs, function (v, j) {
        var at = 'locales[' + i + '].variants[' + j + ']';
        v.querySelector('legend').textContent = 'Variant ' + (j + 1);
        name(v.querySelector('.variant-body'), 'v-' + i + '-' + j + '-body', at + '.body');
        name(v.querySelector('.variant-weight'), 'v-' + i + '-' + j + '-weight', at + '.weight');
        var rm = v.querySelector('.remove-variant');
        if (rm) {
          rm.disabled = vs.length < 2;
          rm.setAttribute('aria-label', 'Remove variant ' + (j + 1) + ' of ' + labelOf(p));
        }
      });
      var rl = p.querySelector('.remove-locale');
      if (rl) { rl.disabled = ps.length < 2; }
    });
    syncAddVariant();
    checkFooters();
  }

  // name sets an input's id and name, and points the label before it at it.
  function name(input, id, field) {
    if (!input) { return; }
    var label = input.parentNode.querySelector('label');
    var old = input.id;
    input.id = id;
    input.name = field;
    if (label && (!label.htmlFor || label.htmlFor === old)) { label.htmlFor = id; }
  }

  function labelOf(panel) {
    var v = panel.querySelector('.locale-tag').value.trim();
    return v || 'new locale';
  }

  function syncAddVariant() {
    if (!addVariantButton) { return; }
    var p = selectedPanel();
    addVariantButton.disabled = !p || !!p.cloud;
  }

  function addVariant(panel, focus) {
    var tpl = document.getElementById('variant-template');
    var v = tpl.content.firstElementChild.cloneNode(true);
    panel.querySelector('.variants').appendChild(v);
    renumber();
    if (focus) { v.querySelector('.variant-body').focus(); }
    changed();
  }

  function addLocale() {
    var tpl = document.getElementById('locale-template');
    var p = tpl.content.firstElementChild.cloneNode(true);
    p.cloud = null;
    var ps = panels();
    ps[ps.length - 1].insertAdjacentElement('afterend', p);
    var t = document.createElement('button');
    t.type = 'button';
    t.setAttribute('role', 'tab');
    t.textContent = 'new locale';
    tabs.appendChild(t);
    addVariant(p, false);
    crier.selectTab(t);
    syncAddVariant();
    p.querySelector('.locale-tag').focus();
  }

  function removeLocale(panel) {
    var i = panels().indexOf(panel);
    if (panels().length < 2 || i < 0) { return; }
    var t = tabList()[i];
    panel.remove();
    t.remove();
    renumber();
    crier.selectTab(tabList()[Math.max(0, i - 1)]);
    syncAddVariant();
    changed();
  }

  // --- The opt-out footer: the engine's rule (templates/footer.go), for a live hint. ---

  var wordRune = /[\p{L}\p{Nd}\p{M}]/u;
  var unspaced = /[\p{Script=Han}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}\p{Script=Hiragana}\p{Script=Katakana}]/u;

  function fold(s) { return s.normalize('NFKC').toLowerCase(); }

  // hasKeyword reports whether text names an opt-out keyword as a word of its own: "STOP"
  // counts in "Reply STOP." but not in "stopwatch"; 退订 counts anywhere.
  function hasKeyword(text) {
    text = fold(text);
    return rule.keywords.some(function (k) {
      k = fold(k);
      var chars = Array.from(k);
      for (var from = 0; ;) {
        var i = text.indexOf(k, from);
        if (i < 0) { return false; }
        var before = Array.from(text.slice(0, i)).pop();
        var after = Array.from(text.slice(i + k.length))[0];
        var okBefore = !before || !wordRune.test(before) || unspaced.test(chars[0]);
        var okAfter = !after || !wordRune.test(after) || unspaced.test(chars[chars.length - 1]);
        if (okBefore && okAfter) { return true; }
        from = i + 1;
      }
    });
  }

  // defaultFooter finds the built-in footer for a tag through a fallback chain like the
  // engine's: pt-BR → pt, zh-TW → zh-Hant → zh.
  function defaultFooter(tag) {
    var parts = tag.trim().replace(/_/g, '-').split('-').filter(Boolean);
    if (!parts.length) { return ''; }
    var lang = parts[0].toLowerCase();
    var script = '';
    var region = '';
    parts.slice(1).forEach(function (p) {
      if (/^[a-z]{4}$/i.test(p) && !script) { script = p.charAt(0).toUpperCase() + p.slice(1).toLowerCase(); }
      else if (/^([a-z]{2}|\d{3})$/i.test(p) && !region) { region = p.toUpperCase(); }
    });
    if (!script && lang === 'zh' && /^(TW|HK|MO)$/.test(region)) { script = 'Hant'; }
    var chain = [[lang, script, region], [lang, script], [lang]].map(function (c) { return c.filter(Boolean).join('-'); });
    for (var i = 0; i < chain.length; i++) {
      if (rule.defaults[chain[i]]) { return rule.defaults[chain[i]]; }
    }
    return '';
  }

  function quote(s) { return '\u201c' + s + '\u201d'; }

  function badge(cls, text) {
    var b = document.createElement('span');
    b.className = 'badge ' + cls;
    b.textContent = text;
    return b;
  }

  function setCheck(el, cls, label, text) {
    el.textContent = '';
    el.appendChild(badge(cls, label));
    el.appendChild(document.createTextNode(' ' + text));
    el.dataset.ok = cls === 'bad' ? 'false' : 'true';
  }

  // checkFooters writes, under every variant, whether its messages will end with an opt-out
  // footer, and under each footer input the default an empty one gets.
  function checkFooters() {
    var marketing = category.value === 'marketing';
    var kw = rule.keywords.join(', ');
    panels().forEach(function (p) {
      var tag = p.querySelector('.locale-tag').value;
      var own = p.querySelector('.locale-footer').value.trim();
      var def = defaultFooter(tag);
      var hint = p.querySelector('.footer-default');
      hint.textContent = own || p.cloud ? '' : (def ? 'Empty: ' + (marketing ? 'the default for the language, ' : 'no footer; a marketing template would get ') + quote(def) + '.' : (marketing ? 'There is no default footer for this language: write one.' : 'Optional for utility templates.'));
      var cls, label, text;
      if (p.cloud) {
        cls = 'info'; label = 'Meta';
        text = marketing ? 'Opt-out comes from Meta\u2019s footer or opt-out button; checked on save.' : 'Footer from Meta\u2019s template.';
      } else if (!marketing) {
        cls = 'info'; label = 'utility';
        text = own ? 'Ends with ' + quote(own) + '. No opt-out footer needed.' : 'No opt-out footer needed.';
      } else if (own && Array.from(own).length > 300) {
        cls = 'bad'; label = 'footer too long'; text = 'The footer must be at most 300 characters.';
      } else if (own && hasKeyword(own)) {
        cls = 'ok'; label = 'opt-out \u2713'; text = 'Ends with ' + quote(own) + '.';
      } else if (own) {
        cls = 'bad'; label = 'no opt-out'; text = 'The footer must tell customers how to opt out: name one of ' + kw + '.';
      } else if (def) {
        cls = 'ok'; label = 'opt-out \u2713'; text = 'Ends with the default footer ' + quote(def) + '.';
      } else {
        cls = 'bad'; label = 'no opt-out'; text = 'No default footer for ' + (tag.trim() || 'this locale') + ': write a footer that names ' + kw + ', e.g. \u201cReply STOP to unsubscribe.\u201d';
      }
      each(p, '.footer-check', function (el) { setCheck(el, cls, label, text); });
    });
  }

  // --- Saving ---

  function build() {
    return {
      name: document.getElementById('template-name').value,
      category: category.value,
      locales: panels().map(function (p) {
        var l = {
          locale: p.querySelector('.locale-tag').value.trim(),
          footer: p.querySelector('.locale-footer').value,
          variants: Array.prototype.map.call(p.querySelectorAll('.variant'), function (v) {
            var out = { body: v.querySelector('.variant-body').value };
            var w = v.querySelector('.variant-weight').value.trim();
            if (w !== '') { out.weight = parseInt(w, 10); }
            return out;
          })
        };
        if (p.cloud) { l.cloud = p.cloud; }
        return l;
      })
    };
  }

  // showTabOfError selects the locale with the first field error, so that it is seen.
  function showTabOfError() {
    var bad = form.querySelector('[aria-invalid=true]');
    if (!bad) {
      each(form, '.variants-error', function (el) { if (!bad && el.textContent) { bad = el; } });
    }
    var p = bad && bad.closest('.locale-panel');
    if (p) {
      crier.selectTab(tabList()[panels().indexOf(p)]);
      syncAddVariant();
      if (bad.focus) { bad.focus(); }
    }
  }

  function save(ev) {
    ev.preventDefault();
    if (readonly || !saveButton) { return; }
    crier.clearErrors(form);
    saveButton.disabled = true;
    var body = build();
    var req = page.id ? crier.api('PUT', '/v1/templates/' + page.id, body) : crier.api('POST', '/v1/templates', body);
    req.then(function (res) {
      saveButton.disabled = false;
      if (!res.ok) {
        crier.showProblem(form, res);
        showTabOfError();
        return;
      }
      dirty = false;
      if (!page.id) {
        location.assign('/templates/' + encodeURIComponent(res.data.id));
        return;
      }
      // The API stores tags canonical and fills in default footers: show what it kept.
      (res.data.locales || []).forEach(function (l, i) {
        var p = panels()[i];
        if (!p) { return; }
        p.querySelector('.locale-tag').value = l.locale;
        p.querySelector('.locale-footer').value = l.footer || '';
        tabList()[i].textContent = l.locale;
      });
      checkFooters();
      markClean();
      crier.flash('Saved: version ' + res.data.version + '.');
      preview();
    });
  }

  function changed() {
    dirty = true;
    var d = document.getElementById('template-dirty');
    if (d) { d.hidden = false; }
    var s = document.getElementById('preview-stale');
    if (s && page.id) { s.hidden = false; }
  }

  function markClean() {
    var d = document.getElementById('template-dirty');
    if (d) { d.hidden = true; }
    var s = document.getElementById('preview-stale');
    if (s) { s.hidden = true; }
  }

  // --- Preview ---

  var contact = document.getElementById('preview-contact');
  var output = document.getElementById('preview-output');
  var timer = null;
  var seq = 0;

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(preview, 500);
  }

  function say(text, cls) {
    output.textContent = '';
    var p = document.createElement('p');
    p.className = cls || 'muted';
    p.textContent = text;
    output.appendChild(p);
  }

  function problemText(res) {
    var d = res.data || {};
    if (d.errors && d.errors.length) { return d.errors[0].message; }
    return d.detail || 'The preview failed (' + res.status + ').';
  }

  // previewBody picks what to preview with: a contact by id, a contact found by phone, or
  // sample values in the selected locale.
  function previewBody() {
    var v = contact.value.trim();
    if (v === '') {
      var p = selectedPanel();
      return Promise.resolve({ variables: { name: 'Ada Lovelace', locale: p ? p.querySelector('.locale-tag').value.trim() : '', campaign: { name: 'Spring sale' } } });
    }
    if (/^\d+$/.test(v)) { return Promise.resolve({ contact_id: parseInt(v, 10) }); }
    if (/^\+?[\d\s().-]{6,}$/.test(v)) {
      return crier.api('GET', '/v1/contacts?phone=' + encodeURIComponent(v)).then(function (res) {
        if (!res.ok) { return { error: problemText(res) }; }
        var list = (res.data && res.data.data) || [];
        return list.length ? { contact_id: list[0].id } : { error: 'No contact has that number.' };
      });
    }
    return Promise.resolve({ error: 'Enter a contact id (42) or a phone number starting with + (+4915\u2026).' });
  }

  function preview() {
    if (!page.id || !output) { return; }
    var mine = ++seq;
    previewBody().then(function (body) {
      if (mine !== seq) { return; }
      if (body.error) { say(body.error, 'field-error'); return; }
      body.spins = 3;
      output.setAttribute('aria-busy', 'true');
      crier.api('POST', '/v1/templates/' + page.id + '/preview', body).then(function (res) {
        if (mine !== seq) { return; }
        output.removeAttribute('aria-busy');
        if (!res.ok) { say(problemText(res), 'field-error'); return; }
        showPreview(res.data, body);
      });
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function showPreview(p, body) {
    output.textContent = '';
    var who = body.contact_id ? 'contact ' + body.contact_id : 'sample values (Ada Lovelace)';
    output.appendChild(el('p', 'hint', 'Locale ' + p.locale + ' \u00b7 ' + who));
    (p.variants || []).forEach(function (v) {
      var box = el('div', 'preview-variant');
      var head = 'Variant ' + (v.variant + 1) + ' \u00b7 weight ' + v.weight + ' \u00b7 ' + v.spins + (v.spins === 1 ? ' wording' : ' wordings');
      box.appendChild(el('h3', '', head));
      if (v.variables && v.variables.length) { box.appendChild(el('p', 'hint', 'Uses ' + v.variables.join(', '))); }
      var seen = {};
      (v.samples || []).forEach(function (s) {
        if (s.error) { box.appendChild(el('p', 'alert', s.error)); return; }
        if (seen[s.text]) { return; }
        seen[s.text] = true;
        box.appendChild(el('div', 'preview', s.text));
        box.appendChild(el('p', 'hint', s.length + ' characters'));
      });
      output.appendChild(box);
    });
  }

  // --- Wiring ---

  form.addEventListener('submit', save);
  form.addEventListener('input', function (ev) {
    if (readonly) { return; }
    changed();
    if (ev.target.classList.contains('locale-tag')) {
      var i = panels().indexOf(ev.target.closest('.locale-panel'));
      if (tabList()[i]) { tabList()[i].textContent = ev.target.value.trim() || 'new locale'; }
    }
    checkFooters();
  });
  category.addEventListener('change', checkFooters);
  form.addEventListener('click', function (ev) {
    var t = ev.target;
    if (t.closest('.remove-variant')) {
      var p = t.closest('.locale-panel');
      if (p.querySelectorAll('.variant').length > 1) {
        t.closest('.variant').remove();
        renumber();
        changed();
      }
    } else if (t.closest('.remove-locale')) {
      removeLocale(t.closest('.locale-panel'));
    }
  });
  if (addVariantButton) { addVariantButton.addEventListener('click', function () { addVariant(selectedPanel(), true); }); }
  if (addLocaleButton) { addLocaleButton.addEventListener('click', addLocale); }
  // console.js selects a tab on the same click or key, after this listener: look once it has.
  function tabChanged() {
    setTimeout(function () {
      syncAddVariant();
      if (contact && contact.value.trim() === '') { schedule(); }
    }, 0);
  }
  tabs.addEventListener('click', tabChanged);
  tabs.addEventListener('keydown', tabChanged);
  if (contact) { contact.addEventListener('input', schedule); }
  window.addEventListener('beforeunload', function (ev) {
    if (dirty) { ev.preventDefault(); ev.returnValue = ''; }
  });

  renumber();
  preview();
})();
