// Portcullis: the browser's side of a passkey ceremony, the only script the pages have.
//
// A form marked data-passkey="create" (adding a passkey) or "get" (signing in with one) carries
// the WebAuthn options the server made for this page in data-options, as JSON with binary values
// in base64url. On submit, this asks the browser's authenticator with them, puts the answer
// (credential.toJSON()) in the form's "credential" field and submits the form as usual, with its
// CSRF token. The server keeps the challenge; nothing here is secret or stored.
'use strict';

(() => {
  const supported =
    typeof window.PublicKeyCredential === 'function' &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function' &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function';

  // What to tell a person whose ceremony did not finish.
  const explain = (error) => {
    switch (error && error.name) {
      case 'NotAllowedError':
        return 'The passkey was not used: the request was cancelled or timed out. Try again.';
      case 'InvalidStateError':
        return 'This authenticator holds a passkey for your account already.';
      case 'SecurityError':
        return 'This browser refused passkeys for this address.';
      default:
        return 'The passkey could not be used. Try again.';
    }
  };

  for (const form of document.querySelectorAll('form[data-passkey]')) {
    const field = form.querySelector('input[name="credential"]');
    const status = document.getElementById(form.dataset.status);
    const say = (text) => {
      status.textContent = text;
      status.hidden = false;
    };
    if (!supported) {
      say('This browser cannot use passkeys here.');
      for (const button of form.querySelectorAll('button')) button.disabled = true;
      continue;
    }
    let busy = false;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (busy) return;
      busy = true;
      status.hidden = true;
      try {
        const options = JSON.parse(form.dataset.options).publicKey;
        const credential =
          form.dataset.passkey === 'create'
            ? await navigator.credentials.create({
                publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
              })
            : await navigator.credentials.get({
                publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
              });
        if (!credential) throw new Error('no credential');
        field.value = JSON.stringify(credential.toJSON());
        // submit() sends the form without firing this handler again.
        form.submit();
      } catch (error) {
        busy = false;
        say(explain(error));
      }
    });
  }
})();
