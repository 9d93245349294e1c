// The API explorer at /api/docs: Swagger UI (swagger-ui-dist, vendored) over /openapi.json.
// A file, not an inline script, so the page keeps the console's Content-Security-Policy. The
// credential typed in the bar is kept in memory only (as the console does) and sent as a Bearer
// token with the document's request and with every "Try it out".
(function () {
  'use strict';
  var credential = '';

  function withCredential(req) {
    if (credential) req.headers.Authorization = 'Bearer ' + credential;
    return req;
  }

  function load() {
    var status = document.getElementById('status');
    status.textContent = '';
    window.SwaggerUIBundle({
      url: '/openapi.json',
      dom_id: '#swagger',
      deepLinking: true,
      tryItOutEnabled: false,
      requestInterceptor: withCredential,
      onComplete: function () { status.textContent = ''; },
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var form = document.getElementById('credential');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      credential = document.getElementById('token').value.trim();
      load();
    });
  });
})();
