/**
 * Alerts in the console (issue 16 item 6): while the tab is hidden, a new chat for me (assigned to me, or waiting
 * in one of my queues) or a new client message in my chats plays a short tone (Web Audio, no asset) and shows a
 * desktop notification; the title carries the unread count. Notifications are asked for only from the "Enable
 * notifications" button, never on load; "Mute alerts" silences both and is remembered in this browser.
 */
import { h, safely } from '../shared/dom.js'
import type { ChatSession, Envelope, Message } from '../shared/types.js'
import type { ConsoleState } from './state.js'

const MUTED_KEY = 'livedesk.alertsMuted'
const BANNER_DISMISSED_KEY = 'livedesk.notificationsBannerDismissed'
/** A burst of events makes one tone. */
const TONE_EVERY_MS = 1500
const TITLE = 'livedesk console'

export interface ConsoleAlerts {
  /** A live event, after the state applied it. */
  onEvent(env: Envelope): void
  /** The document title for `unread` client messages in my chats (plus what arrived unseen while hidden). */
  title(unread: number): string
  /** Signed in / out: the banner shows only in a signed-in console. */
  setSignedIn(signedIn: boolean): void
}

const hidden = (): boolean => document.visibilityState !== 'visible'
const notificationsSupported = (): boolean => typeof Notification === 'function'

export function consoleAlerts(deps: { state: () => ConsoleState; openChat: (sessionId: string) => void; rerender: () => void }): ConsoleAlerts {
  let muted = localStorage.getItem(MUTED_KEY) === '1'
  let signedIn = false
  /** New chats in my queues and client messages in the open chat, arrived while hidden (the state counts the rest). */
  let unseen = 0

  // ---- the tone ----------------------------------------------------------------------------------
  let audio: AudioContext | null = null
  let lastTone = 0
  // Browsers start audio only after a gesture on the page: any click or key press unlocks it for later alerts.
  const unlockAudio = () => {
    try {
      audio ??= new AudioContext()
      if (audio.state === 'suspended') void audio.resume().catch(() => undefined)
    } catch {
      // no Web Audio: alerts stay silent
    }
  }
  document.addEventListener('pointerdown', unlockAudio, true)
  document.addEventListener('keydown', unlockAudio, true)
  const tone = () => {
    if (!audio || Date.now() - lastTone < TONE_EVERY_MS) return
    lastTone = Date.now()
    const t = audio.currentTime
    const osc = audio.createOscillator()
    const gain = audio.createGain()
    osc.type = 'sine'
    osc.frequency.setValueAtTime(880, t)
    osc.frequency.setValueAtTime(660, t + 0.12)
    gain.gain.setValueAtTime(0.0001, t)
    gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02)
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.3)
    osc.connect(gain).connect(audio.destination)
    osc.start(t)
    osc.stop(t + 0.32)
  }

  // ---- desktop notifications ----------------------------------------------------------------------
  const notify = (sessionId: string, title: string, body: string) => {
    if (!notificationsSupported() || Notification.permission !== 'granted') return
    let n: Notification
    try {
      // One per chat at a time: a newer one replaces it.
      n = new Notification(title, { body: body.slice(0, 200), tag: `livedesk-${sessionId}` })
    } catch {
      // Some mobile browsers allow notifications from a service worker only: the tone and the title still tell.
      return
    }
    n.onclick = () => {
      window.focus()
      deps.openChat(sessionId)
      n.close()
    }
  }

  const alert = (sessionId: string, title: string, body: string, countUnseen: boolean) => {
    if (countUnseen) unseen++
    if (!muted) {
      tone()
      notify(sessionId, title, body)
    }
  }

  // ---- the controls: enable notifications, mute ---------------------------------------------------
  const enable = h('button', { type: 'button', 'data-testid': 'notifications-enable' }, 'Enable notifications')
  const dismiss = h('button', { type: 'button', class: 'link', 'data-testid': 'notifications-dismiss' }, 'Not now')
  const banner = h('div', { class: 'notice alerts-banner', role: 'region', 'aria-label': 'Notifications', 'data-testid': 'notifications-banner', hidden: true },
    'Get a desktop notification for new chats and messages while this tab is in the background. ', enable, ' ', dismiss)
  const muteBox = h('input', { type: 'checkbox', 'data-testid': 'alerts-mute' }) as HTMLInputElement
  muteBox.checked = muted
  const muteLabel = h('label', { class: 'alerts-mute', title: 'No sound and no desktop notifications for new chats and messages' }, muteBox, ' Mute alerts')
  const renderControls = () => {
    const ask = signedIn && notificationsSupported() && Notification.permission === 'default' && sessionStorage.getItem(BANNER_DISMISSED_KEY) !== '1'
    banner.hidden = !ask
    muteLabel.hidden = !signedIn
  }
  document.getElementById('notice')?.after(banner)
  document.querySelector('.topbar .me')?.prepend(muteLabel)
  enable.addEventListener('click', safely(async () => {
    unlockAudio()
    await Notification.requestPermission()
    renderControls()
  }))
  dismiss.addEventListener('click', () => {
    sessionStorage.setItem(BANNER_DISMISSED_KEY, '1')
    renderControls()
  })
  muteBox.addEventListener('change', () => {
    muted = muteBox.checked
    localStorage.setItem(MUTED_KEY, muted ? '1' : '0')
  })
  document.addEventListener('visibilitychange', safely(() => {
    if (hidden()) return
    unseen = 0
    deps.rerender()
  }))

  return {
    onEvent(env) {
      if (!hidden()) return
      const state = deps.state()
      const name = env.event ?? env.action
      const d = env.data ?? {}
      if (name === 'chatSessionAdded') {
        const s = d as ChatSession
        if (!state.isMine(s)) return
        // Its client messages are counted unread by the state already.
        const title = `${s.transfer ? 'Chat transferred to you' : 'New chat'}: ${s.name || 'a client'}`
        alert(s.id, title, s.transfer?.note ?? s.lastMessage?.text ?? '', false)
      } else if (name === 'chatSessionStarted' || name === 'chatSessionSwitchedFromBotToOperator') {
        const s = state.sessions.get((d as ChatSession).id)
        if (s && s.status === 'queued' && state.isQueued(s)) alert(s.id, `New chat waiting: ${s.name || 'a client'}`, s.lastMessage?.text ?? '', true)
      } else if (name === 'chatMessageCreated') {
        const m = d as Message
        const s = state.sessions.get(m.sessionId)
        if (!s || m.author.type !== 'client' || m.internal || !state.isMine(s)) return
        // The open chat counts nothing unread in the state (it is on screen), but nobody saw it.
        alert(s.id, s.name || 'Client', m.text, s.id === state.openSessionId)
      } else {
        return
      }
      deps.rerender()
    },
    title(unread) {
      const n = unread + unseen
      return `${n ? `(${n}) ` : ''}${TITLE}`
    },
    setSignedIn(value) {
      signedIn = value
      if (!value) unseen = 0
      renderControls()
    },
  }
}
