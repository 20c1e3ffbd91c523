/* A stand-in for Google Identity Services (https://accounts.google.com/gsi/client) in the
 * portal's browser tests. Not Google's code: it offers the part of the interface the portal
 * uses, google.accounts.id.initialize({client_id, callback}) and
 * google.accounts.id.renderButton(parent, options), and plays Google's part with a tiny
 * account chooser in the page instead of Google's pop-up.
 *
 * The button is named "Sign in with Google". Pressing it shows an email field labelled
 * "Google account" with "Continue" and "Cancel"; Continue asks the server this script came
 * from (t/fakes/google_certs_fake.pl, POST /gsi/token) for an ID token of that address with
 * the client id as audience, signed with a key the API under test trusts, and hands it to the
 * callback as Google does: {credential, select_by: "btn"}. The server's own error, if any, is
 * shown in the chooser. */
(function () {
  'use strict';

  var script = document.currentScript;
  var origin = script && script.src ? new URL(script.src).origin : '';
  var config = null;
  var chooserCount = 0;

  function initialize(options) {
    if (!options || typeof options.client_id !== 'string' || typeof options.callback !== 'function') {
      throw new Error('google.accounts.id.initialize: client_id and callback are required');
    }
    config = { clientId: options.client_id, callback: options.callback };
  }

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === 'text') node.textContent = props[k];
      else node.setAttribute(k, props[k]);
    });
    (children || []).forEach(function (c) {
      node.appendChild(c);
    });
    return node;
  }

  function askToken(email) {
    var body = new URLSearchParams({ email: email, client_id: config.clientId });
    return fetch(origin + '/gsi/token', { method: 'POST', body: body }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok || !data.credential) throw new Error(data.error || 'Google did not answer.');
        return data.credential;
      });
    });
  }

  /* The chooser, in place of the button until it is done or cancelled. */
  function openChooser(parent, button) {
    var n = ++chooserCount;
    var input = el('input', { id: 'gsi-standin-email-' + n, type: 'email', autocomplete: 'email' });
    var problem = el('p', { role: 'alert' });
    var cont = el('button', { type: 'submit', text: 'Continue' });
    var cancel = el('button', { type: 'button', text: 'Cancel' });
    var form = el('form', { 'aria-label': 'Account chooser', novalidate: '' }, [
      el('label', { for: input.id, text: 'Google account' }),
      input,
      problem,
      cont,
      cancel,
    ]);
    function close() {
      form.remove();
      button.hidden = false;
      button.focus();
    }
    cancel.addEventListener('click', close);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      problem.textContent = '';
      cont.disabled = true;
      askToken(input.value.trim())
        .then(function (credential) {
          close();
          config.callback({ credential: credential, select_by: 'btn' });
        })
        .catch(function (err) {
          problem.textContent = String(err.message || err);
          cont.disabled = false;
        });
    });
    button.hidden = true;
    parent.appendChild(form);
    input.focus();
  }

  function renderButton(parent) {
    if (!config) throw new Error('google.accounts.id.renderButton: call initialize first');
    if (!(parent instanceof HTMLElement)) throw new Error('google.accounts.id.renderButton: an element is required');
    var button = el('button', { type: 'button', text: 'Sign in with Google' });
    button.addEventListener('click', function () {
      openChooser(parent, button);
    });
    parent.textContent = '';
    parent.appendChild(button);
  }

  window.google = window.google || {};
  window.google.accounts = window.google.accounts || {};
  window.google.accounts.id = {
    initialize: initialize,
    renderButton: renderButton,
    prompt: function () {},
    disableAutoSelect: function () {},
    cancel: function () {},
  };
})();
