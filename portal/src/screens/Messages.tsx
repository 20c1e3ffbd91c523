// The client's secure messages: the one conversation with its provider, oldest first, paged
// backwards, kept current by polling; messages received are marked read once they have been on
// the screen, and new ones are announced to screen readers.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { FormEvent, KeyboardEvent } from 'react';
import { ApiError, api, toApiError } from '../api/client';
import type { Message, PublicProvider } from '../api/types';
import { Loading, SubmitButton } from '../components/forms';
import { usePageTitle } from '../components/Layout';
import { usePoll } from '../poll';
import { useSession } from '../session';
import './Messages.css';

/** The API's page of a conversation (its default size). */
const PAGE = 50;

const browserZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

function messageTime(instant: string, timeZone: string): string {
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(
    new Date(instant),
  );
}

/** The conversation with `page` merged in: known messages take the page's state (read), new
 * ones join in time order. */
function merged(known: Message[], page: Message[]): Message[] {
  const fresh = new Map(page.map((m) => [m.id, m]));
  const out = known.map((m) => fresh.get(m.id) ?? m);
  const seen = new Set(known.map((m) => m.id));
  for (const m of page) if (!seen.has(m.id)) out.push(m);
  return out.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
}

function nearBottom(): boolean {
  const doc = document.documentElement;
  return window.innerHeight + window.scrollY >= doc.scrollHeight - 160;
}

interface Counterpart {
  id: string;
  name: string;
  timeZone: string;
}

function MessageItem({
  message,
  mine,
  counterpart,
  isNew,
  watch,
}: {
  message: Message;
  mine: boolean;
  counterpart: Counterpart;
  isNew: boolean;
  watch?: (el: HTMLLIElement | null) => void;
}) {
  return (
    <li className={mine ? 'msg msg--mine' : 'msg msg--theirs'} data-id={message.id} ref={watch}>
      <p className="msg__meta">
        <span className="msg__sender">{mine ? 'You' : counterpart.name}</span>{' '}
        <time dateTime={message.createdAt}>{messageTime(message.createdAt, counterpart.timeZone)}</time>
        {isNew && <strong className="msg__tag"> New</strong>}
        {mine && message.read && <span className="msg__tag"> · Read</span>}
      </p>
      {message.message === null ? (
        <p className="msg__text msg__text--unreadable">
          <em>This message could not be read.</em>
        </p>
      ) : (
        <p className="msg__text">{message.message}</p>
      )}
    </li>
  );
}

type Load = { state: 'loading' } | { state: 'ready' } | { state: 'failed'; error: ApiError };

/** The conversation between the signed-in user (`me`) and `counterpart`. */
function Conversation({ me, counterpart }: { me: string; counterpart: Counterpart }) {
  const [messages, setMessages] = useState<Message[]>([]);
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [round, setRound] = useState(0);
  const [hasEarlier, setHasEarlier] = useState(false);
  const [earlier, setEarlier] = useState<{ busy: boolean; error: ApiError | null }>({ busy: false, error: null });
  const [pollError, setPollError] = useState<ApiError | null>(null);
  // what the live region says; the count makes a repeated sentence ("Message sent") change the
  // region's text, so that it is announced again
  const [announced, setAnnounced] = useState({ text: '', n: 0 });
  const setAnnouncement = useCallback((text: string) => setAnnounced((a) => ({ text, n: a.n + 1 })), []);
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const [sendError, setSendError] = useState<ApiError | null>(null);
  // messages that arrived unread in this visit keep their "New" mark while the page is open
  const [newIds, setNewIds] = useState<ReadonlySet<string>>(new Set());
  const current = useRef<Message[]>([]);
  current.current = messages;
  const follow = useRef(true); // scroll to the newest message after the next render

  const unreadFor = useCallback((list: Message[]) => list.filter((m) => m.receiverId === me && !m.read), [me]);
  const markNew = useCallback(
    (list: Message[]) => {
      const ids = unreadFor(list).map((m) => m.id);
      if (ids.length) setNewIds((s) => new Set([...s, ...ids]));
    },
    [unreadFor],
  );

  // ---- the newest page first
  useEffect(() => {
    const ctl = new AbortController();
    setLoad({ state: 'loading' });
    api.conversation(counterpart.id, { limit: PAGE }, ctl.signal).then(
      (page) => {
        follow.current = true;
        setMessages(page);
        setHasEarlier(page.length === PAGE);
        markNew(page);
        setLoad({ state: 'ready' });
      },
      (e: unknown) => {
        if (!ctl.signal.aborted) setLoad({ state: 'failed', error: toApiError(e) });
      },
    );
    return () => ctl.abort();
  }, [counterpart.id, round, markNew]);

  useLayoutEffect(() => {
    if (follow.current && messages.length) {
      follow.current = false;
      window.scrollTo(0, document.documentElement.scrollHeight);
    }
  }, [messages]);

  // ---- marking read what has been on the screen
  const marking = useRef(new Set<string>());
  const seen = useRef(new Set<string>());
  const flushReads = useCallback(() => {
    if (document.visibilityState !== 'visible') return;
    for (const id of seen.current) {
      const m = current.current.find((x) => x.id === id);
      if (!m || m.read || m.receiverId !== me) {
        seen.current.delete(id);
        continue;
      }
      if (marking.current.has(id)) continue;
      marking.current.add(id);
      api.markMessageRead(id).then(
        (done) => {
          marking.current.delete(id);
          seen.current.delete(id);
          setMessages((list) => list.map((x) => (x.id === id ? { ...x, read: done.read } : x)));
        },
        () => marking.current.delete(id), // tried again with the next poll
      );
    }
  }, [me]);

  const observer = useRef<IntersectionObserver | null>(null);
  useEffect(() => {
    if (typeof IntersectionObserver === 'undefined') return undefined;
    const o = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const id = (entry.target as HTMLElement).dataset.id;
        if (entry.isIntersecting && id) {
          seen.current.add(id);
          o.unobserve(entry.target);
        }
      }
      flushReads();
    });
    observer.current = o;
    return () => o.disconnect();
  }, [flushReads]);
  const watch = useCallback(
    (el: HTMLLIElement | null) => {
      if (!el) return;
      if (observer.current) observer.current.observe(el);
      else if (el.dataset.id) {
        // without IntersectionObserver, being on the page counts as seen
        seen.current.add(el.dataset.id);
        flushReads();
      }
    },
    [flushReads],
  );

  // ---- polling for new messages
  const poll = useCallback(
    async (signal: AbortSignal) => {
      try {
        const page = await api.conversation(counterpart.id, { limit: PAGE }, signal);
        setPollError(null);
        const known = new Set(current.current.map((m) => m.id));
        const arrived = page.filter((m) => !known.has(m.id));
        if (arrived.length) {
          follow.current = nearBottom();
          // a full page of nothing known: messages may be missing in between, start afresh
          const gap = known.size > 0 && arrived.length === page.length && page.length === PAGE;
          setMessages((list) => (gap ? page : merged(list, page)));
          if (gap) setHasEarlier(true);
          markNew(arrived);
          const received = arrived.filter((m) => m.senderId === counterpart.id);
          if (received.length === 1) {
            const body = received[0].message ?? 'a message that could not be read';
            setAnnouncement(`New message from ${counterpart.name}: ${body}`);
          } else if (received.length > 1) {
            setAnnouncement(`${received.length} new messages from ${counterpart.name}`);
          }
        } else {
          setMessages((list) => merged(list, page));
        }
        flushReads();
      } catch (e) {
        if (!signal.aborted) setPollError(toApiError(e));
        throw e;
      }
    },
    [counterpart.id, counterpart.name, markNew, flushReads, setAnnouncement],
  );
  usePoll(poll, load.state === 'ready');

  // ---- older pages
  // when the last page has come, the button goes: the focus moves to what took its place
  const start = useRef<HTMLParagraphElement>(null);
  const focusStart = useRef(false);
  useEffect(() => {
    if (!hasEarlier && focusStart.current) {
      focusStart.current = false;
      start.current?.focus({ preventScroll: true });
    }
  }, [hasEarlier]);
  const loadEarlier = async () => {
    const oldest = current.current[0];
    if (!oldest || earlier.busy) return;
    setEarlier({ busy: true, error: null });
    try {
      const page = await api.conversation(counterpart.id, { before: oldest.id, limit: PAGE });
      setMessages((list) => merged(page, list));
      focusStart.current = page.length < PAGE;
      setHasEarlier(page.length === PAGE);
      markNew(page);
      setAnnouncement(
        page.length ? `${page.length} earlier ${page.length === 1 ? 'message' : 'messages'} shown` : 'No earlier messages',
      );
      setEarlier({ busy: false, error: null });
    } catch (e) {
      setEarlier({ busy: false, error: toApiError(e) });
    }
  };

  // ---- sending
  const send = async (e?: FormEvent) => {
    e?.preventDefault();
    if (sending) return;
    const body = text;
    setSending(true);
    setSendError(null);
    try {
      const sent = await api.sendMessage(counterpart.id, body);
      follow.current = true;
      setMessages((list) => merged(list, [sent]));
      setText((now) => (now === body ? '' : now));
      setAnnouncement('Message sent');
    } catch (err) {
      setSendError(toApiError(err));
    } finally {
      setSending(false);
    }
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key !== 'Enter' || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey || e.nativeEvent.isComposing) return;
    e.preventDefault();
    if (text.trim() !== '') void send();
  };

  if (load.state === 'loading') return <Loading>Loading your messages…</Loading>;
  if (load.state === 'failed') {
    return (
      <div className="panel" role="alert">
        <p>{load.error.detail}</p>
        <button className="button button--secondary" type="button" onClick={() => setRound((r) => r + 1)}>
          Try again
        </button>
      </div>
    );
  }

  const described = ['message-hint', sendError ? 'message-error' : ''].filter(Boolean).join(' ');
  const fieldAtFault = sendError?.field === 'message';
  return (
    <>
      {counterpart.timeZone !== browserZone() && (
        <p className="hint">
          Times are in {counterpart.timeZone.replace(/_/g, ' ')} time, {counterpart.name}'s time zone.
        </p>
      )}
      {messages.length === 0 ? (
        <p className="conversation__empty">
          No messages yet. Write to {counterpart.name} below: only you and {counterpart.name} can read what you send.
        </p>
      ) : (
        <>
          {hasEarlier ? (
            <div className="conversation__earlier">
              <button
                className="button button--secondary"
                type="button"
                onClick={loadEarlier}
                disabled={earlier.busy}
                aria-busy={earlier.busy || undefined}
              >
                Load earlier messages
              </button>
              {earlier.error && (
                <p className="error-text" role="alert">
                  {earlier.error.detail}
                </p>
              )}
            </div>
          ) : (
            <p className="hint conversation__start" tabIndex={-1} ref={start}>
              This is the start of your conversation.
            </p>
          )}
          <ol className="conversation" aria-label={`Conversation with ${counterpart.name}`}>
            {messages.map((m) => {
              const mine = m.senderId === me;
              return (
                <MessageItem
                  key={m.id}
                  message={m}
                  mine={mine}
                  counterpart={counterpart}
                  isNew={newIds.has(m.id)}
                  watch={!mine && !m.read ? watch : undefined}
                />
              );
            })}
          </ol>
        </>
      )}
      <div className="visually-hidden" role="status" aria-live="polite" aria-label="Conversation updates">
        {announced.text}
        {announced.n % 2 ? '\u00a0' : ''}
      </div>
      {pollError && (
        <p className="hint" role="status">
          New messages cannot be fetched just now ({pollError.detail}). Trying again…
        </p>
      )}
      <form className="composer" onSubmit={send} noValidate>
        <div className={fieldAtFault ? 'field field--error' : 'field'}>
          <label className="label" htmlFor="message">
            Message
          </label>
          <p className="hint" id="message-hint">
            Enter sends the message; Shift+Enter starts a new line.
          </p>
          {sendError && (
            <p className="field-error" id="message-error" role="alert">
              <span className="visually-hidden">Error: </span>
              {sendError.detail}
            </p>
          )}
          <textarea
            className="input composer__input"
            id="message"
            name="message"
            rows={3}
            value={text}
            aria-invalid={fieldAtFault || undefined}
            aria-describedby={described}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={onKeyDown}
          />
        </div>
        <SubmitButton busy={sending}>Send</SubmitButton>
      </form>
    </>
  );
}

type ProviderLoad = { state: 'loading' } | { state: 'ready'; provider: PublicProvider } | { state: 'failed'; error: ApiError };

function ClientMessages({ me }: { me: string }) {
  const [result, setResult] = useState<ProviderLoad>({ state: 'loading' });
  const [round, setRound] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    setResult({ state: 'loading' });
    api.clientProvider(ctl.signal).then(
      (provider) => setResult({ state: 'ready', provider }),
      (e: unknown) => {
        if (!ctl.signal.aborted) setResult({ state: 'failed', error: toApiError(e) });
      },
    );
    return () => ctl.abort();
  }, [round]);

  if (result.state === 'loading') return <Loading>Loading your messages…</Loading>;
  if (result.state === 'failed') {
    const noProvider = result.error.status === 404;
    return (
      <div className="panel" role="alert">
        <p>{noProvider ? 'Your account is not linked to a practice, so there is no one to write to yet.' : result.error.detail}</p>
        {!noProvider && (
          <button className="button button--secondary" type="button" onClick={() => setRound((r) => r + 1)}>
            Try again
          </button>
        )}
      </div>
    );
  }
  const { provider } = result;
  return (
    <>
      <p>Your secure conversation with {provider.name}.</p>
      <Conversation me={me} counterpart={{ id: provider.id, name: provider.name, timeZone: provider.timeZone }} />
    </>
  );
}

export default function Messages() {
  usePageTitle('Messages');
  const { user } = useSession();
  if (!user) return null;
  return (
    <>
      <h1>Messages</h1>
      {user.userType === 'client' ? (
        <ClientMessages me={user.id} />
      ) : (
        <p>Your conversations with clients are not available in the portal yet.</p>
      )}
    </>
  );
}
