/* Swagger UI for /api/v1 — started from a file because the CSP forbids inline scripts. */
(function () {
  'use strict';

  function sameOrigin(url) {
    var a = document.createElement('a');
    a.href = url;
    return a.origin === window.location.origin;
  }

  function start() {
    var root = document.getElementById('swagger-ui');
    if (!root || typeof window.SwaggerUIBundle !== 'function') return;
    var meta = document.querySelector('meta[name="csrf-token"]');
    var csrf = meta ? meta.getAttribute('content') : '';

    window.ui = window.SwaggerUIBundle({
      url: root.getAttribute('data-url') || '/api/v1/openapi.json',
      dom_id: '#swagger-ui',
      deepLinking: true,
      // BaseLayout: no top bar with a free-form URL box; the page documents this API only.
      layout: 'BaseLayout',
      presets: [window.SwaggerUIBundle.presets.apis],
      plugins: [window.SwaggerUIBundle.plugins.DownloadUrl],
      // Never send our spec to validator.swagger.io (intranet; no request leaves the machine).
      validatorUrl: null,
      // "Try it out" runs with the signed-in session, so writes need the CSRF header too.
      requestInterceptor: function (req) {
        if (csrf && req.headers && sameOrigin(req.url)) req.headers['X-CSRF-Token'] = csrf;
        return req;
      }
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
