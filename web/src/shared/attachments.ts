/**
 * Attachments in the pages: choosing and uploading files (with progress) before a message is sent, and showing a
 * message's files: images as thumbnails (click opens the full image), others as a download link with name and size.
 * Files are fetched with the page's bearer token and shown from blob: URLs (an `<img src>` cannot send the token).
 */
import { ApiError } from './api.js'
import { byId, h } from './dom.js'
import type { Attachment } from '../../../src/domain/events.js'

/** An upload's answer: the attachment plus the id a message names it by. */
export type UploadedAttachment = Attachment & { id: string }

/** Object URLs of files already fetched, by attachment URL: a redraw does not fetch them again. */
const blobs = new Map<string, Promise<string>>()

/** The file at `url` (an attachment URL of /api/v1) as a blob: URL, fetched once with the token. */
export function blobUrlOf(url: string, token: string | null): Promise<string> {
  let pending = blobs.get(url)
  if (!pending) {
    pending = fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} }).then(async (res) => {
      if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, `the file cannot be loaded (${res.status})`)
      return URL.createObjectURL(await res.blob())
    })
    blobs.set(url, pending)
    pending.catch(() => blobs.delete(url))
  }
  return pending
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

const PREVIEWED = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp'])

/** A message's files, or null when it has none. */
export function attachmentList(list: Attachment[] | undefined, token: () => string | null): HTMLElement | null {
  if (!list || list.length === 0) return null
  return h('div', { class: 'attachments', 'data-testid': 'attachments' }, ...list.map((a) => attachmentItem(a, token)))
}

function attachmentItem(a: Attachment, token: () => string | null): HTMLElement {
  if (PREVIEWED.has(a.mimeType)) {
    const img = h('img', { class: 'thumb', alt: a.name, title: `${a.name} (${formatSize(a.size)})`, 'data-testid': 'attachment-image' })
    blobUrlOf(a.url, token()).then((src) => (img.src = src), () => img.replaceWith(h('span', { class: 'attachment-missing' }, `${a.name} (unavailable)`)))
    return h('a', {
      class: 'attachment image',
      href: '#',
      'data-name': a.name,
      onclick: async (ev: Event) => {
        ev.preventDefault()
        window.open(await blobUrlOf(a.url, token()), '_blank', 'noopener')
      },
    }, img)
  }
  return h('a', {
    class: 'attachment file',
    href: '#',
    'data-name': a.name,
    'data-testid': 'attachment-file',
    onclick: async (ev: Event) => {
      ev.preventDefault()
      const save = h('a', { href: await blobUrlOf(a.url, token()), download: a.name })
      document.body.append(save)
      save.click()
      save.remove()
    },
  }, h('span', { class: 'attachment-name' }, a.name), h('span', { class: 'attachment-size' }, ` · ${formatSize(a.size)}`))
}

/** POSTs one file as multipart to `/api/v1${path}`, reporting progress (0..1). */
export function uploadFile(path: string, file: File, token: string | null, onProgress: (fraction: number) => void): Promise<UploadedAttachment> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', `/api/v1${path}`)
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`)
    xhr.upload.onprogress = (ev) => ev.lengthComputable && onProgress(ev.loaded / ev.total)
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'the server cannot be reached'))
    xhr.onload = () => {
      let body: any
      try {
        body = JSON.parse(xhr.responseText)
      } catch {
        body = undefined
      }
      if (xhr.status === 201) resolve(body as UploadedAttachment)
      else reject(new ApiError(xhr.status, body?.error?.code ?? `http_${xhr.status}`, body?.error?.message ?? 'upload failed', body?.error?.field))
    }
    const form = new FormData()
    form.append('file', file, file.name)
    xhr.send(form)
  })
}

interface Pending {
  file: File
  /** Where it was uploaded (a message may only carry files of its own chat). */
  scope: string
  progress: number
  done?: UploadedAttachment
  error?: string
}

/**
 * The attach button, its hidden file input and the strip of chosen files above the composer: each file uploads
 * at once (progress shown), and `ready()` gives the ids the next message carries.
 */
export class AttachmentPicker {
  private pending: Pending[] = []

  constructor(
    private readonly o: {
      button: HTMLButtonElement
      input: HTMLInputElement
      strip: HTMLElement
      /** The upload path for the current chat, and a key naming that chat; null: nowhere to upload now. */
      target: () => { path: string; scope: string } | null
      token: () => string | null
      /** Called when the strip changes (the composer may enable Send). */
      changed?: () => void
    },
  ) {
    o.button.addEventListener('click', () => o.input.click())
    o.input.addEventListener('change', () => {
      for (const file of [...(o.input.files ?? [])]) this.add(file)
      o.input.value = ''
    })
  }

  private add(file: File): void {
    const target = this.o.target()
    if (!target) return
    const item: Pending = { file, scope: target.scope, progress: 0 }
    this.pending.push(item)
    this.render()
    uploadFile(target.path, file, this.o.token(), (p) => {
      item.progress = p
      this.render()
    }).then(
      (done) => {
        item.done = done
        this.render()
      },
      (err: Error) => {
        item.error = err.message
        this.render()
      },
    )
  }

  /** Uploads still running for `scope`: the message waits for them. */
  busy(scope: string): boolean {
    return this.pending.some((p) => p.scope === scope && !p.done && !p.error)
  }

  /** The ids of the finished uploads of `scope`, in the order chosen. */
  ready(scope: string): string[] {
    return this.pending.filter((p) => p.scope === scope && p.done).map((p) => p.done!.id)
  }

  /** Drops the sent (or abandoned) files of `scope`, or every file. */
  clear(scope?: string): void {
    this.pending = scope === undefined ? [] : this.pending.filter((p) => p.scope !== scope)
    this.render()
  }

  render(): void {
    const scope = this.o.target()?.scope
    const shown = this.pending.filter((p) => p.scope === scope)
    this.o.strip.hidden = shown.length === 0
    this.o.strip.replaceChildren(
      ...shown.map((p) =>
        h(
          'span',
          { class: `pending-file ${p.error ? 'failed' : p.done ? 'done' : 'uploading'}`, 'data-testid': 'pending-file', 'data-state': p.error ? 'failed' : p.done ? 'done' : 'uploading' },
          h('span', { class: 'attachment-name' }, p.file.name),
          h('span', { class: 'attachment-size' }, p.error ? ` · ${p.error}` : p.done ? ` · ${formatSize(p.done.size)}` : ` · ${Math.round(p.progress * 100)}%`),
          h('button', {
            type: 'button',
            class: 'link remove',
            'aria-label': `Remove ${p.file.name}`,
            onclick: () => {
              this.pending = this.pending.filter((x) => x !== p)
              this.render()
            },
          }, '×'),
        ),
      ),
    )
    this.o.changed?.()
  }
}

/** The composer's picker on the markup both pages share: the #attach button, the #file input and the #pending strip. */
export function composerPicker(
  target: ConstructorParameters<typeof AttachmentPicker>[0]['target'],
  token: () => string | null,
): AttachmentPicker {
  return new AttachmentPicker({ button: byId<HTMLButtonElement>('attach'), input: byId<HTMLInputElement>('file'), strip: byId('pending'), target, token })
}
