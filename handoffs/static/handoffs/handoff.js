// The partner's page: a download button for a key or certificate shown once. The file is
// made in the browser from the text on the page (a Blob), so the secret is fetched once and
// never travels again; loaded from a file, as the Content-Security-Policy allows no inline
// script. Without the script the text can still be selected and copied.
(function () {
  "use strict";

  function setupDownloadButtons() {
    document.querySelectorAll("[data-download-target]").forEach(function (button) {
      var target = document.getElementById(button.getAttribute("data-download-target"));
      var status = document.getElementById(button.getAttribute("data-copy-status"));
      if (!target || !window.Blob || !window.URL) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = target.textContent;
        if (text.slice(-1) !== "\n") { text += "\n"; }
        var url = URL.createObjectURL(new Blob([text], { type: "application/octet-stream" }));
        var link = document.createElement("a");
        link.href = url;
        link.download = button.getAttribute("data-download-name");
        document.body.appendChild(link);
        link.click();
        document.body.removeChild(link);
        // Long enough for the browser to have started the download.
        window.setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
        if (status) { status.textContent = "Saved as " + link.download + "."; }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", setupDownloadButtons);
})();
