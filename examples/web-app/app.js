// A small web app on the built SDK: sign up / sign in, a live list of notes (a document created
// anywhere appears without a reload), and an upload with a progress bar.
// Serve the repository root over HTTP and open /examples/web-app/?api=http://127.0.0.1:8000
// (the API's CORS_ALLOWED_ORIGINS must include this page's origin). The server needs a `notes`
// collection and an `uploads` bucket that signed-in users may read and write (README.md here).
import { createClient, BaasError } from '../../sdk/js/dist/index.js'

const params = new URLSearchParams(location.search)
const api = params.get('api') ?? 'http://127.0.0.1:8000'
const COLLECTION = params.get('collection') ?? 'notes'
const BUCKET = params.get('bucket') ?? 'uploads'

const client = createClient(api)
const $ = (id) => document.getElementById(id)
/** What the app saw, for anyone (a test) who wants to check it. */
window.example = { client, progress: [], notes: new Map() }

function showError(e) {
  const code = e instanceof BaasError ? e.code : 'unexpected'
  $('error').dataset.code = code
  $('error').textContent = `${code}: ${e?.message ?? e}`
}
function clearError() {
  delete $('error').dataset.code
  $('error').textContent = ''
}

// --- account ------------------------------------------------------------------------------------
$('sign-in').addEventListener('submit', async (event) => {
  event.preventDefault()
  clearError()
  const email = $('email').value
  const password = $('password').value
  try {
    if (event.submitter?.value === 'sign-up') await client.auth.signUp({ email, password })
    else await client.auth.signIn({ email, password })
  } catch (e) {
    showError(e)
  }
})
$('sign-out-button').addEventListener('click', () => client.auth.signOut().catch(showError))

let stopNotes = null
client.auth.onAuthStateChange((_event, session) => {
  const user = session?.user ?? null
  $('who').textContent = user ? `Signed in as ${user.email ?? 'anonymous'}` : 'Signed out'
  $('who').dataset.state = user ? 'signed-in' : 'signed-out'
  $('notes-section').hidden = $('files-section').hidden = !user
  if (user && !stopNotes) stopNotes = watchNotes()
  if (!user && stopNotes) {
    stopNotes()
    stopNotes = null
    $('notes').replaceChildren()
    window.example.notes.clear()
  }
})

// --- the live list ---------------------------------------------------------------------------------
function renderNote(doc) {
  let li = document.querySelector(`#notes li[data-id="${CSS.escape(doc.id)}"]`)
  if (!li) {
    li = document.createElement('li')
    li.dataset.id = doc.id
    $('notes').append(li)
  }
  li.textContent = String(doc.data?.text ?? '')
}

function watchNotes() {
  const offConnected = client.realtime.on('connected', () => ($('realtime').dataset.state = 'live', $('realtime').textContent = 'live'))
  const offDisconnected = client.realtime.on('disconnected', () => ($('realtime').dataset.state = 'offline', $('realtime').textContent = 'reconnecting…'))
  const stop = client.db.collection(COLLECTION).subscribe({ snapshot: true, onError: showError }, (change) => {
    if (change.type === 'removed') {
      window.example.notes.delete(change.doc.id)
      document.querySelector(`#notes li[data-id="${CSS.escape(change.doc.id)}"]`)?.remove()
    } else {
      window.example.notes.set(change.doc.id, change.doc)
      renderNote(change.doc)
    }
  })
  return () => (stop(), offConnected(), offDisconnected())
}

$('new-note').addEventListener('submit', async (event) => {
  event.preventDefault()
  clearError()
  try {
    await client.db.collection(COLLECTION).create({ text: $('note-text').value })
    $('note-text').value = '' // the note itself shows up through the subscription
  } catch (e) {
    showError(e)
  }
})

// --- upload with a progress bar ------------------------------------------------------------------
$('upload-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  clearError()
  const file = $('file').files[0]
  if (!file) return
  const me = client.auth.session.user.id
  window.example.progress = []
  $('progress').value = 0
  $('upload-result').textContent = ''
  $('upload-button').disabled = true
  try {
    const info = await client.storage.bucket(BUCKET).upload(`${me}/${file.name}`, file, {
      contentType: file.type || 'application/octet-stream',
      onProgress: ({ loaded, total }) => {
        window.example.progress.push({ loaded, total })
        const percent = Math.floor((loaded / total) * 100)
        $('progress').value = percent
        $('progress-label').textContent = `${percent} %`
      },
    })
    $('upload-result').dataset.path = info.path
    $('upload-result').textContent = `Uploaded ${info.path} (${info.size} bytes)`
  } catch (e) {
    showError(e)
  } finally {
    $('upload-button').disabled = false
  }
})
