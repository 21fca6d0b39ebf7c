/* The clinic assistant's chat widget. Plain JavaScript, no framework, no third-party code.
 * Embed: <script src="https://BOT-HOST/webhooks/website/widget.js" defer></script>
 * Options (data- attributes on that tag): data-title, data-greeting, data-primary-color,
 * data-corner ("bottom-right" or "bottom-left"), data-open ("true" opens it on load),
 * data-keep-hours (how long the browser keeps the transcript after its last message; 24).
 * Theming: the --clinic-assistant-* CSS custom properties (see widget.css and the README).
 * Every message is put on the page as text (textContent), never as HTML; only http, https,
 * mailto and tel links in the assistant's replies become clickable. */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || window.clinicAssistantLoaded) return;
  window.clinicAssistantLoaded = true;

  var base = new URL('.', script.src).href;           // .../webhooks/website/
  var opts = script.dataset;
  var KEY = 'clinic-assistant:' + base;
  var MAX_LOG = 100;
  var TIMEOUT_MS = 30000;
  var keepHours = parseFloat(opts.keepHours);
  var KEEP_MS = (keepHours > 0 ? keepHours : 24) * 3600 * 1000;
  var settings = { title: 'Questions? Ask us', greeting: 'Hi! How can I help?', quick_replies: [], max_message_length: 2000 };
  var state, ready, busy = false, pending = null, ui = {};

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16)), h = [];
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    for (var i = 0; i < 16; i++) h.push((b[i] + 256).toString(16).slice(1));
    h = h.join('');
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join('-');
  }

  // open: null until the visitor (or data-open) decides; then remembered across pages.
  function fresh() { return { v: 1, sender: uuid(), log: [], open: null, draft: '', at: Date.now() }; }

  function load() {
    try {
      var s = JSON.parse(localStorage.getItem(KEY));
      if (s && s.v === 1 && typeof s.sender === 'string' && Array.isArray(s.log)) {
        // A transcript older than the keep time is forgotten (a shared computer, an old chat).
        if (typeof s.at === 'number' && Date.now() - s.at <= KEEP_MS) return s;
        localStorage.removeItem(KEY);
      }
    } catch (e) { /* unreadable or blocked storage: start afresh */ }
    return fresh();
  }

  function save() {
    state.log = state.log.slice(-MAX_LOG);
    state.at = Date.now();
    try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode: keep it in memory */ }
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }

  // A link only for the schemes a visitor can safely follow; anything else stays text.
  function link(href, label) {
    var url;
    try { url = new URL(href); } catch (e) { return null; }
    if (!/^(https?|mailto|tel):$/.test(url.protocol)) return null;
    var a = el('a', '', label);
    a.href = url.href;
    if (/^https?:$/.test(url.protocol)) { a.target = '_blank'; a.rel = 'noopener noreferrer'; }
    return a;
  }

  var LINKS = /\[([^\]\n]+)\]\(([^)\s]+)\)|((?:https?:\/\/|mailto:|tel:)[^\s<>"]+)|([\w.+-]+@[\w-]+(?:\.[\w-]+)+)|(\+\d[\d ().-]{5,}\d)/g;

  function rich(node, text) {
    var last = 0, m;
    LINKS.lastIndex = 0;
    while ((m = LINKS.exec(text))) {
      var whole = m[0], label, href, tail = '';
      if (m[1]) { label = m[1]; href = m[2]; }
      else if (m[3]) {
        tail = (/[.,;:!?)]+$/.exec(whole) || [''])[0];
        label = href = whole.slice(0, whole.length - tail.length);
      }
      else if (m[4]) { label = m[4]; href = 'mailto:' + m[4]; }
      else { label = m[5]; href = 'tel:' + m[5].replace(/[^\d+]/g, ''); }
      node.appendChild(document.createTextNode(text.slice(last, m.index)));
      node.appendChild(link(href, label) || document.createTextNode(whole.slice(0, whole.length - tail.length)));
      if (tail) node.appendChild(document.createTextNode(tail));
      last = m.index + whole.length;
    }
    node.appendChild(document.createTextNode(text.slice(last)));
  }

  function bubble(entry) {
    var me = entry.who === 'me';
    var row = el('div', 'msg ' + (me ? 'me' : 'bot'));
    row.appendChild(el('span', 'sr', me ? 'You: ' : 'Assistant: '));
    var body = el('span', 'text');
    if (me) body.textContent = entry.text; else rich(body, entry.text || '');
    row.appendChild(body);
    if (!me && entry.answer) row.appendChild(rating(entry));
    return row;
  }

  // "Helpful?" under an answer: optional, one vote, no text.
  function rating(entry) {
    var box = el('div', 'rate', 'Helpful?');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', 'Was this answer helpful?');
    [true, false].forEach(function (up) {
      var b = el('button', up ? 'vote' : 'vote down');
      b.type = 'button';
      b.setAttribute('aria-label', up ? 'Yes, helpful' : 'No, not helpful');
      b.setAttribute('aria-pressed', String(entry.vote === up));
      b.disabled = typeof entry.vote === 'boolean';
      b.appendChild(icon(THUMB));
      b.addEventListener('click', function () { vote(entry, up, box); });
      box.appendChild(b);
    });
    if (typeof entry.vote === 'boolean') {
      var thanks = el('span', 'thanks', 'Thanks for your feedback.');
      thanks.tabIndex = -1;
      box.appendChild(thanks);
    }
    return box;
  }

  function vote(entry, up, box) {
    var convo = state.sender, buttons = box.querySelectorAll('button');
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(base + 'feedback', {
      method: 'POST', credentials: 'omit', headers: { 'Content-Type': 'text/plain' },
      body: JSON.stringify({ sender: convo, answer: entry.answer, helpful: up })
    }).then(function (response) {
      // 409: its vote was kept already (a retry after a lost reply).
      if (!response.ok && response.status !== 409) throw new Error('status ' + response.status);
      if (state.sender !== convo) return;
      entry.vote = up;
      save();
      var done = rating(entry);
      box.parentNode.replaceChild(done, box);
      done.querySelector('.thanks').focus();
    }).catch(function () {
      buttons.forEach(function (b) { b.disabled = false; });
      showError('Sorry, your feedback could not be sent. Please try again.', false);
    });
  }

  function renderReplies() {
    ui.replies.textContent = '';
    var lastEntry = state.log[state.log.length - 1];
    if (busy || !lastEntry || lastEntry.who !== 'bot' || !lastEntry.buttons) return;
    lastEntry.buttons.forEach(function (b) {
      var button = el('button', 'reply', b.title);
      button.type = 'button';
      button.addEventListener('click', function () { send(b.payload, b.title, false); ui.input.focus(); });
      ui.replies.appendChild(button);
    });
  }

  function scrollDown() { ui.log.scrollTop = ui.log.scrollHeight; }

  function renderAll() {
    ui.log.textContent = '';
    state.log.forEach(function (entry) { ui.log.appendChild(bubble(entry)); });
    renderReplies();
    scrollDown();
  }

  function add(entry) {
    state.log.push(entry);
    save();
    ui.log.insertBefore(bubble(entry), ui.typing.parentNode === ui.log ? ui.typing : null);
    renderReplies();
    scrollDown();
  }

  function showError(message, canRetry) {
    ui.status.textContent = '';
    if (!message) { ui.status.hidden = true; return; }
    ui.status.hidden = false;
    ui.status.appendChild(el('span', '', message));
    if (canRetry) {
      var retry = el('button', 'retry', 'Try again');
      retry.type = 'button';
      retry.addEventListener('click', function () {
        var p = pending;
        if (p && p.typed) send(ui.input.value, ui.input.value, true);
        else if (p) send(p.message, p.shown, false);
      });
      ui.status.appendChild(retry);
    }
  }

  function typing(on) {
    if (on) { ui.log.appendChild(ui.typing); scrollDown(); }
    else if (ui.typing.parentNode) ui.typing.parentNode.removeChild(ui.typing);
  }

  function failed(reason, status) {
    busy = false;
    typing(false);
    ui.send.disabled = false;
    var entry = state.log[state.log.length - 1];
    if (entry && entry.who === 'me' && entry.text === pending.shown) { state.log.pop(); save(); renderAll(); }
    if (pending.typed && !ui.input.value) { ui.input.value = pending.message; state.draft = pending.message; save(); }
    if (status === 429) showError('You are sending messages quickly. Please wait a moment, then try again.', true);
    else if (status && status < 500) showError('Sorry, that message could not be sent: ' + (reason || 'it was refused') + '.', false);
    else showError('Sorry, the assistant cannot be reached right now. Your message is kept: try again in a moment.', true);
    renderReplies();
  }

  function send(message, shown, typed) {
    if (busy || !message || !message.trim()) return;
    if (message.length > settings.max_message_length) {
      showError('Please keep your message under ' + settings.max_message_length + ' characters.', false);
      return;
    }
    busy = true;
    var convo = state.sender;  // a reply that arrives after Start over belongs to no one
    pending = { message: message, shown: shown || message, typed: typed };
    showError('');
    ui.send.disabled = true;
    if (typed) { ui.input.value = ''; state.draft = ''; }
    add({ who: 'me', text: pending.shown });
    typing(true);
    var abort = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () { if (abort) abort.abort(); }, TIMEOUT_MS);
    fetch(base + 'webhook', {
      method: 'POST',
      // text/plain keeps this a "simple" cross-site request: no preflight round trip on phones.
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify({ sender: state.sender, message: message, metadata: { page: location.pathname } }),
      credentials: 'omit',
      signal: abort ? abort.signal : undefined
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (!response.ok) throw { status: response.status, reason: body && body.error };
        return body;
      });
    }).then(function (replies) {
      clearTimeout(timer);
      if (state.sender !== convo) return;
      busy = false;
      pending = null;
      typing(false);
      ui.send.disabled = false;
      (Array.isArray(replies) ? replies : []).forEach(function (r) {
        if (typeof r.text !== 'string' && !r.buttons) return;
        var buttons = Array.isArray(r.buttons) ? r.buttons.filter(function (b) {
          return b && typeof b.title === 'string' && typeof b.payload === 'string';
        }) : [];
        add({
          who: 'bot', text: typeof r.text === 'string' ? r.text : '',
          buttons: buttons.length ? buttons : undefined, answer: typeof r.answer === 'string' ? r.answer : undefined
        });
      });
      renderReplies();
    }).catch(function (problem) {
      clearTimeout(timer);
      if (state.sender !== convo) return;
      failed(problem && problem.reason, problem && problem.status);
    });
  }

  function welcome() {
    if (state.log.length) return;
    add({
      who: 'bot',
      text: opts.greeting || settings.greeting,
      buttons: settings.quick_replies.length ? settings.quick_replies : undefined
    });
  }

  function setOpen(open, focus) {
    state.open = open;
    save();
    ui.panel.hidden = !open;
    ui.launcher.setAttribute('aria-expanded', String(open));
    ui.root.classList.toggle('is-open', open);
    if (open) {
      ready.then(welcome);
      scrollDown();
      if (focus) ui.input.focus();
    } else if (focus) ui.launcher.focus();
  }

  function startOver() {
    var open = state.open;
    state = fresh();
    state.open = open;
    pending = null;
    busy = false;
    typing(false);
    ui.send.disabled = false;
    ui.input.value = '';
    showError('');
    save();
    renderAll();
    ready.then(welcome);
    ui.input.focus();
  }

  // "Delete this conversation": erased on the server first, then forgotten here.
  function forget() {
    var sender = state.sender;
    ui.forget.disabled = true;
    showError('');
    fetch(base + 'forget', {
      method: 'POST', credentials: 'omit', headers: { 'Content-Type': 'text/plain' },
      body: JSON.stringify({ sender: sender })
    }).then(function (response) {
      if (!response.ok) throw new Error('status ' + response.status);
      try { localStorage.removeItem(KEY); } catch (e) { /* storage blocked: nothing kept anyway */ }
      startOver();
      showError('Your conversation has been deleted from this browser and from our server.', false);
    }).catch(function () {
      showError('Sorry, the conversation could not be deleted just now. Please try again.', false);
    }).then(function () { ui.forget.disabled = false; });
  }

  var BUBBLE = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z';
  var THUMB = 'M2 21h4V9H2zM22 10a2 2 0 0 0-2-2h-6.3l1-4.7L13.2 1 7 7.6V21h10c.8 0 1.5-.5 1.8-1.2L22 12z';

  function icon(d) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    var path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.appendChild(path);
    return svg;
  }

  function build() {
    var host = el('div');
    host.id = 'clinic-assistant';
    var color = opts.primaryColor;
    if (color && window.CSS && CSS.supports('color', color)) host.style.setProperty('--clinic-assistant-primary', color);
    var shadow = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
    var css = el('link');
    css.rel = 'stylesheet';
    css.href = base + 'widget.css';
    shadow.appendChild(css);

    var title = opts.title || settings.title;
    var root = ui.root = el('div', 'ca');
    root.setAttribute('data-corner', /left/.test(opts.corner || '') ? 'left' : 'right');

    var launcher = ui.launcher = el('button', 'launcher');
    launcher.type = 'button';
    launcher.setAttribute('aria-controls', 'ca-panel');
    launcher.setAttribute('aria-expanded', 'false');
    launcher.appendChild(icon(BUBBLE));
    launcher.appendChild(el('span', 'launcher-text', title));

    var panel = ui.panel = el('section', 'panel');
    panel.id = 'ca-panel';
    panel.hidden = true;
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-labelledby', 'ca-title');

    var head = el('div', 'head');
    var h = el('h2', 'title', title);
    h.id = 'ca-title';
    var restart = el('button', 'restart', 'Start over');
    restart.type = 'button';
    var close = el('button', 'close', '\u00d7');
    close.type = 'button';
    close.setAttribute('aria-label', 'Close chat');
    head.appendChild(h);
    head.appendChild(restart);
    head.appendChild(close);

    var log = ui.log = el('div', 'log');
    log.setAttribute('role', 'log');
    log.setAttribute('aria-live', 'polite');
    log.setAttribute('aria-label', 'Conversation');
    log.tabIndex = 0;

    ui.typing = el('div', 'msg bot typing');
    ui.typing.setAttribute('aria-hidden', 'true');
    for (var i = 0; i < 3; i++) ui.typing.appendChild(el('span', 'dot'));

    ui.replies = el('div', 'replies');
    ui.status = el('div', 'status');
    ui.status.setAttribute('role', 'alert');
    ui.status.hidden = true;

    var form = el('form', 'compose');
    var label = el('label', 'sr', 'Your message');
    label.htmlFor = 'ca-input';
    var input = ui.input = el('textarea', 'input');
    input.id = 'ca-input';
    input.rows = 1;
    input.placeholder = 'Type your question';
    input.setAttribute('autocomplete', 'off');
    var sendButton = ui.send = el('button', 'send', 'Send');
    sendButton.type = 'submit';
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(sendButton);

    panel.appendChild(head);
    panel.appendChild(log);
    panel.appendChild(ui.replies);
    panel.appendChild(ui.status);
    panel.appendChild(form);
    var forgetButton = ui.forget = el('button', 'forget', 'Delete this conversation');
    forgetButton.type = 'button';
    panel.appendChild(forgetButton);
    root.appendChild(panel);
    root.appendChild(launcher);
    shadow.appendChild(root);
    document.body.appendChild(host);

    launcher.addEventListener('click', function () { setOpen(!state.open, true); });
    close.addEventListener('click', function () { setOpen(false, true); });
    restart.addEventListener('click', startOver);
    forgetButton.addEventListener('click', forget);
    root.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && state.open) { e.preventDefault(); setOpen(false, true); }
    });
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      send(input.value, input.value, true);
    });
    input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(input.value, input.value, true); }
    });
    input.addEventListener('input', function () { state.draft = input.value; save(); });
    // Another tab of the same site changed the conversation: show the same one here.
    window.addEventListener('storage', function (e) {
      if (e.key !== KEY || busy) return;
      state = load();
      renderAll();
    });
  }

  function start() {
    state = load();
    build();
    ui.input.maxLength = settings.max_message_length;
    ui.input.value = state.draft || '';
    renderAll();
    ready = fetch(base + 'config', { credentials: 'omit' }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (c) {
      if (!c) return;
      ['title', 'greeting', 'max_message_length'].forEach(function (k) { if (c[k]) settings[k] = c[k]; });
      if (Array.isArray(c.quick_replies)) settings.quick_replies = c.quick_replies;
      ui.input.maxLength = settings.max_message_length;
      if (!opts.title) {
        ui.panel.querySelector('.title').textContent = settings.title;
        ui.launcher.querySelector('.launcher-text').textContent = settings.title;
      }
    }).catch(function () { /* the built-in defaults do */ });
    if (state.open || (opts.open === 'true' && state.open === null)) setOpen(true, false);
  }

  if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
})();
