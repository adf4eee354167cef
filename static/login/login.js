// The login form: shown when the server closes the WebSocket with
// CLOSE_NOT_AUTHENTICATED (conn/wire.js). The token goes in a POST body to
// /api/login, which answers with an HttpOnly session cookie; the page never
// stores the token and never puts it in a URL.

export class Login {
  /**
   * @param {HTMLFormElement} form holds #token and #login-error
   * @param {() => void} onsuccess
   */
  constructor(form, onsuccess) {
    this.form = form;
    this.input = form.querySelector("#token");
    this.error = form.querySelector("#login-error");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit(onsuccess);
    });
  }

  show() {
    this.form.hidden = false;
    document.body.classList.add("locked");
    this.input.focus();
  }

  async submit(onsuccess) {
    this.error.textContent = "";
    const button = this.form.querySelector("button");
    button.disabled = true;
    let res;
    try {
      res = await fetch(new URL("api/login", document.baseURI), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: this.input.value }),
        credentials: "same-origin",
      });
    } catch {
      res = null;
    } finally {
      button.disabled = false;
    }
    if (res !== null && res.status === 204) {
      this.input.value = "";
      this.form.hidden = true;
      document.body.classList.remove("locked");
      onsuccess();
    } else if (res === null) {
      this.error.textContent = "the server cannot be reached";
    } else if (res.status === 429) {
      this.error.textContent = "too many failed attempts: wait a minute";
    } else {
      this.error.textContent = "wrong token";
      this.input.select();
    }
  }
}
