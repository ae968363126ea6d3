/* Jinlin page behaviour. Loaded as a file (the CSP forbids inline scripts); plain ES5 so the
   cheap phones' older WebViews run it without a build step. */
(function () {
  'use strict';

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : null;
  }

  // (a) Every htmx request carries the CSRF token as a header (the server's CSRF guard checks it;
  // htmx only talks to our own origin — selfRequestsOnly is on by default in htmx 2).
  document.addEventListener('htmx:configRequest', function (evt) {
    var token = csrfToken();
    if (token && evt.detail && evt.detail.headers) {
      evt.detail.headers['X-CSRF-Token'] = token;
    }
  });

  // (b) Region tree. htmx fetches the children the first time a toggle is pressed; after that the
  // toggle only shows/hides what is already loaded, so collapsing never costs a request.
  function closest(el, selector) {
    while (el && el.nodeType === 1) {
      if (el.matches ? el.matches(selector) : el.msMatchesSelector(selector)) return el;
      el = el.parentNode;
    }
    return null;
  }

  function childrenOf(toggle) {
    var li = closest(toggle, 'li');
    if (!li) return null;
    for (var i = 0; i < li.children.length; i++) {
      if (li.children[i].classList.contains('tree-children')) return li.children[i];
    }
    return null;
  }

  function setExpanded(toggle, container, open) {
    toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (container) container.hidden = !open;
  }

  document.addEventListener('htmx:confirm', function (evt) {
    var toggle = evt.detail && evt.detail.elt;
    if (!toggle || !toggle.classList || !toggle.classList.contains('tree-toggle')) return;
    var container = evt.detail.target || childrenOf(toggle);
    var open = toggle.getAttribute('aria-expanded') === 'true';
    if (open) {
      evt.preventDefault();
      setExpanded(toggle, container, false);
    } else if (toggle.getAttribute('data-loaded') === 'true') {
      evt.preventDefault();
      setExpanded(toggle, container, true);
    } else {
      toggle.setAttribute('aria-busy', 'true');
    }
  });

  document.addEventListener('htmx:afterRequest', function (evt) {
    var toggle = evt.detail && evt.detail.elt;
    if (!toggle || !toggle.classList || !toggle.classList.contains('tree-toggle')) return;
    toggle.removeAttribute('aria-busy');
    if (evt.detail.successful) {
      toggle.setAttribute('data-loaded', 'true');
      setExpanded(toggle, evt.detail.target || childrenOf(toggle), true);
    }
  });

  // Toggles without hx-get (children rendered on the server) just show/hide.
  document.addEventListener('click', function (evt) {
    var toggle = closest(evt.target, '.tree-toggle');
    if (!toggle || toggle.hasAttribute('hx-get') || toggle.hasAttribute('data-hx-get')) return;
    var container = childrenOf(toggle);
    setExpanded(toggle, container, toggle.getAttribute('aria-expanded') !== 'true');
  });

  // (c) Destructive forms ask first. Capture phase, so a refusal also stops htmx's own handler.
  document.addEventListener('submit', function (evt) {
    var form = evt.target;
    if (!form || form.nodeName !== 'FORM' || !form.hasAttribute('data-confirm')) return;
    if (!window.confirm(form.getAttribute('data-confirm'))) {
      evt.preventDefault();
      evt.stopPropagation();
    }
  }, true);
})();

// Long requests (an import): the submit button says what is happening and cannot be pressed twice.
(function () {
  document.addEventListener('submit', function (evt) {
    var form = evt.target;
    if (!form || form.nodeName !== 'FORM' || !form.hasAttribute('data-busy') || evt.defaultPrevented) return;
    var button = form.querySelector('button[type="submit"]');
    if (!button) return;
    // After the submit has started, so the button's own value is still sent.
    setTimeout(function () {
      button.disabled = true;
      button.textContent = form.getAttribute('data-busy');
    }, 0);
  });
})();

// A people import running on the server (/people/import/jobs/…): the progress card asks for the
// job's state every second and, once it has ended, reloads so the server shows the result.
// Without script the page refreshes itself (<noscript> meta refresh) instead.
(function () {
  var card = document.querySelector('[data-job-poll]');
  if (!card) return;
  var url = card.getAttribute('data-job-poll');
  var bar = card.querySelector('.job-bar');
  var fill = card.querySelector('.job-bar-fill');
  var steps = card.querySelectorAll('[data-step]');

  function set(name, text) {
    var el = card.querySelector('[data-job="' + name + '"]');
    if (el && el.textContent !== text) el.textContent = text;
  }

  function show(job) {
    set('percent', job.percent + '%');
    set('stage', job.stage_name);
    set('detail', job.detail);
    set('elapsed', job.elapsed);
    if (fill) fill.style.width = job.percent + '%';
    if (bar) bar.setAttribute('aria-valuenow', String(job.percent));
    var current = -1;
    for (var i = 0; i < steps.length; i++) {
      if (steps[i].getAttribute('data-step') === job.stage) current = i;
    }
    for (var k = 0; k < steps.length; k++) {
      var state = current < 0 || k > current ? 'todo' : k < current ? 'done' : 'current';
      steps[k].className = 'job-step is-' + state;
    }
  }

  function poll() {
    var xhr = new XMLHttpRequest();
    xhr.open('GET', url);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.onload = function () {
      if (xhr.status === 200) {
        var job;
        try {
          job = JSON.parse(xhr.responseText);
        } catch (e) {
          job = null;
        }
        // Ended, or not JSON at all (signed out: the login page): the server shows what to do.
        if (!job || job.finished) {
          window.location.reload();
          return;
        }
        show(job);
      } else if (xhr.status === 404 || xhr.status === 401 || xhr.status === 403) {
        // Forgotten (a restart) or signed out: the page itself says what happened.
        window.location.reload();
        return;
      }
      setTimeout(poll, 1000);
    };
    // The server busy or the network gone for a moment: keep asking, more slowly.
    xhr.onerror = function () {
      setTimeout(poll, 3000);
    };
    xhr.send();
  }

  setTimeout(poll, 1000);
})();
