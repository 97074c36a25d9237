/* Security keys and passkeys (WebAuthn) for allauth's forms, without inline script: a form
   marked data-webauthn="add", "get" or "login" carries its options in data-webauthn-options
   (or fetches them, for "login"); its [data-webauthn-start] button asks the browser for the
   key, puts the answer in the form's credential field and sends the form. */
(function () {
  'use strict'

  function showError (form, error) {
    const note = form.querySelector('[data-webauthn-error]')
    if (note) {
      note.hidden = false
      note.textContent = 'The security key or passkey gave no answer (' + (error && error.name ? error.name : 'error') + '). Try again, or use another way.'
    }
  }

  async function createCredential (form) {
    const options = JSON.parse(form.dataset.webauthnOptions).creation_options
    const passwordless = form.querySelector('input[name=passwordless]')
    if (passwordless) {
      const selection = options.publicKey.authenticatorSelection
      selection.residentKey = passwordless.checked ? 'required' : 'discouraged'
      selection.requireResidentKey = passwordless.checked
      if (passwordless.checked) {
        selection.userVerification = 'required'
      }
    }
    return window.webauthnJSON.create(options)
  }

  async function getCredential (form) {
    if (form.dataset.webauthn === 'login') {
      const response = await fetch(form.action, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      if (!response.ok) {
        throw new Error('no passkey options')
      }
      return window.webauthnJSON.get((await response.json()).request_options)
    }
    return window.webauthnJSON.get(JSON.parse(form.dataset.webauthnOptions).request_options)
  }

  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('form[data-webauthn]').forEach(function (form) {
      const start = form.querySelector('[data-webauthn-start]')
      if (!start) {
        return
      }
      start.addEventListener('click', async function (event) {
        event.preventDefault()
        try {
          const credential = form.dataset.webauthn === 'add' ? await createCredential(form) : await getCredential(form)
          form.querySelector('input[name=credential]').value = JSON.stringify(credential)
          form.submit()
        } catch (error) {
          showError(form, error)
        }
      })
    })
  })
})()
