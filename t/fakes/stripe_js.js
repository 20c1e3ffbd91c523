// A stand-in for Stripe.js v3 in the portal's browser tests, served by t/fakes/stripe_fake.pl at
// /v3/. It offers the part of Stripe.js's documented interface the portal uses, and nothing of
// Stripe's own code:
//   Stripe(publishableKey)                    a publishable key (pk_...) or it throws
//   stripe.elements().create('card')          a card element: mount(element or selector) puts
//                                             labelled "Card number", "Expiry date (MM / YY)"
//                                             and "CVC" inputs there; on('change', fn) with
//                                             {complete, empty, error}; focus, clear, unmount,
//                                             destroy
//   stripe.createPaymentMethod({type: 'card', card})
//                                             -> {paymentMethod: {id, type, card}} for Stripe's
//                                             documented test cards, else {error}; no network:
//     4242 4242 4242 4242  pm_card_visa
//     4000 0000 0000 0002  pm_card_chargeDeclined
//     4000 0025 0000 3155  pm_card_authenticationRequired
//   stripe.handleNextAction({clientSecret})   the 3-D Secure step: a dialog in the page where
//                                             the card holder completes or fails it; the answer
//                                             goes to the fake (which announces it to the
//                                             webhook) -> {paymentIntent} or {error}
(function () {
  'use strict';

  var script = document.currentScript;
  var ORIGIN = script && script.src ? new URL(script.src).origin : window.location.origin;
  var CARDS = {
    '4242424242424242': { pm: 'pm_card_visa', brand: 'visa' },
    '4000000000000002': { pm: 'pm_card_chargeDeclined', brand: 'visa' },
    '4000002500003155': { pm: 'pm_card_authenticationRequired', brand: 'visa' },
  };
  var seq = 0;

  function validationError(code, message) {
    return { type: 'validation_error', code: code, message: message };
  }

  function field(container, id, label, autocomplete, inputmode) {
    var wrap = document.createElement('div');
    wrap.className = 'field';
    var l = document.createElement('label');
    l.className = 'label';
    l.htmlFor = id;
    l.textContent = label;
    var input = document.createElement('input');
    input.className = 'input';
    input.id = id;
    input.type = 'text';
    input.autocomplete = autocomplete;
    input.inputMode = inputmode;
    input.spellcheck = false;
    wrap.appendChild(l);
    wrap.appendChild(input);
    container.appendChild(wrap);
    return input;
  }

  function CardElement() {
    this._handlers = { change: [], ready: [] };
    this._root = null;
    this._inputs = null;
  }

  CardElement.prototype.mount = function (target) {
    var host = typeof target === 'string' ? document.querySelector(target) : target;
    if (!host) throw new Error('card.mount(): no such element');
    if (this._root) throw new Error('card.mount(): already mounted');
    var n = ++seq;
    var root = document.createElement('div');
    var self = this;
    this._inputs = {
      number: field(root, 'stripe-standin-number-' + n, 'Card number', 'cc-number', 'numeric'),
      expiry: field(root, 'stripe-standin-expiry-' + n, 'Expiry date (MM / YY)', 'cc-exp', 'numeric'),
      cvc: field(root, 'stripe-standin-cvc-' + n, 'CVC', 'cc-csc', 'numeric'),
    };
    Object.keys(this._inputs).forEach(function (k) {
      self._inputs[k].addEventListener('input', function () {
        self._emit('change', self._state());
      });
    });
    host.appendChild(root);
    this._root = root;
    setTimeout(function () {
      self._emit('ready', {});
    }, 0);
  };

  CardElement.prototype.on = function (event, handler) {
    if (this._handlers[event]) this._handlers[event].push(handler);
    return this;
  };

  CardElement.prototype._emit = function (event, payload) {
    this._handlers[event].forEach(function (h) {
      h(payload);
    });
  };

  CardElement.prototype._values = function () {
    var v = this._inputs;
    return {
      number: v.number.value.replace(/[\s-]/g, ''),
      expiry: v.expiry.value.replace(/\s/g, ''),
      cvc: v.cvc.value.trim(),
    };
  };

  // what is wrong with the card as typed, or null
  CardElement.prototype._problem = function () {
    var v = this._values();
    if (!v.number) return validationError('incomplete_number', 'Your card number is incomplete.');
    if (!/^\d{13,19}$/.test(v.number)) return validationError('invalid_number', 'Your card number is invalid.');
    var m = /^(\d{2})\/?(\d{2})$/.exec(v.expiry);
    if (!m) return validationError('incomplete_expiry', "Your card's expiration date is incomplete.");
    var month = Number(m[1]);
    var year = 2000 + Number(m[2]);
    var now = new Date();
    if (month < 1 || month > 12) return validationError('invalid_expiry_month', "Your card's expiration month is invalid.");
    if (year < now.getFullYear() || (year === now.getFullYear() && month < now.getMonth() + 1)) {
      return validationError('invalid_expiry_year_past', "Your card's expiration year is in the past.");
    }
    if (!/^\d{3,4}$/.test(v.cvc)) return validationError('incomplete_cvc', "Your card's security code is incomplete.");
    return null;
  };

  CardElement.prototype._state = function () {
    var v = this._values();
    var problem = this._problem();
    return {
      elementType: 'card',
      empty: !v.number && !v.expiry && !v.cvc,
      complete: !problem,
      error: undefined,
    };
  };

  CardElement.prototype.focus = function () {
    if (this._inputs) this._inputs.number.focus();
  };

  CardElement.prototype.clear = function () {
    if (!this._inputs) return;
    var v = this._inputs;
    v.number.value = v.expiry.value = v.cvc.value = '';
    this._emit('change', this._state());
  };

  CardElement.prototype.unmount = function () {
    if (this._root && this._root.parentNode) this._root.parentNode.removeChild(this._root);
    this._root = null;
  };

  CardElement.prototype.destroy = function () {
    this.unmount();
    this._handlers = { change: [], ready: [] };
  };

  function Elements() {}

  Elements.prototype.create = function (type) {
    if (type !== 'card') throw new Error('elements.create(): this stand-in knows only "card"');
    return new CardElement();
  };

  // The 3-D Secure challenge as a test card holder sees it: complete or fail.
  function challenge() {
    return new Promise(function (resolve) {
      var n = ++seq;
      var box = document.createElement('div');
      box.setAttribute('role', 'dialog');
      box.setAttribute('aria-modal', 'true');
      box.setAttribute('aria-labelledby', 'stripe-standin-3ds-' + n);
      box.className = 'panel';
      var h = document.createElement('h2');
      h.id = 'stripe-standin-3ds-' + n;
      h.textContent = '3D Secure test payment';
      var p = document.createElement('p');
      p.textContent = 'Your bank asks you to confirm this payment.';
      box.appendChild(h);
      box.appendChild(p);
      [
        ['Complete authentication', 'complete', 'button'],
        ['Fail authentication', 'fail', 'button button--secondary'],
      ].forEach(function (b) {
        var button = document.createElement('button');
        button.type = 'button';
        button.className = b[2];
        button.textContent = b[0];
        button.addEventListener('click', function () {
          box.parentNode.removeChild(box);
          resolve(b[1]);
        });
        box.appendChild(button);
      });
      (document.querySelector('main') || document.body).appendChild(box);
      box.querySelector('button').focus();
    });
  }

  function Stripe(key) {
    if (!(this instanceof Stripe)) return new Stripe(key);
    if (typeof key !== 'string' || key.indexOf('pk_') !== 0) {
      throw new Error('Stripe(): a publishable key (pk_...) is needed');
    }
    this._key = key;
  }

  Stripe.prototype.elements = function () {
    return new Elements();
  };

  Stripe.prototype.createPaymentMethod = function (opts) {
    if (!opts || opts.type !== 'card' || !(opts.card instanceof CardElement) || !opts.card._inputs) {
      return Promise.reject(new Error('createPaymentMethod(): {type: "card", card: a mounted card element}'));
    }
    var problem = opts.card._problem();
    if (problem) return Promise.resolve({ error: problem });
    var v = opts.card._values();
    var known = CARDS[v.number];
    if (!known) {
      return Promise.resolve({
        error: {
          type: 'card_error',
          code: 'card_declined',
          message: 'Your card was declined. This test server accepts only Stripe\'s test card numbers.',
        },
      });
    }
    var m = /^(\d{2})\/?(\d{2})$/.exec(v.expiry);
    return Promise.resolve({
      paymentMethod: {
        id: known.pm,
        object: 'payment_method',
        type: 'card',
        card: { brand: known.brand, last4: v.number.slice(-4), exp_month: Number(m[1]), exp_year: 2000 + Number(m[2]) },
      },
    });
  };

  Stripe.prototype.handleNextAction = function (opts) {
    var secret = opts && opts.clientSecret;
    var id = typeof secret === 'string' ? /^(pi_[A-Za-z0-9]+)_secret_/.exec(secret) : null;
    if (!id) return Promise.reject(new Error('handleNextAction(): {clientSecret} of a PaymentIntent'));
    var key = this._key;
    return challenge().then(function (outcome) {
      var body = new URLSearchParams({ key: key, client_secret: secret, outcome: outcome });
      return fetch(ORIGIN + '/js/payment_intents/' + id[1] + '/authenticate', { method: 'POST', body: body })
        .then(function (res) {
          return res.json();
        })
        .then(function (answer) {
          if (answer.error) return { error: answer.error };
          return { paymentIntent: answer.payment_intent };
        })
        .catch(function () {
          return { error: { type: 'api_connection_error', message: 'The payment could not be confirmed. Try again.' } };
        });
    });
  };

  window.Stripe = Stripe;
})();
