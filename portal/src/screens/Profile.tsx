// The signed-in user's own profile: the details its type may set (PATCH /api/auth/me), which
// optional mail it gets, and its password. Each form shows the API's refusal next to the field
// it names, and says plainly when it has been saved.
import { useState } from 'react';
import { api } from '../api/client';
import type { ClientUser, MeUpdate, NotificationPrefs, ProviderUser, User } from '../api/types';
import { ErrorSummary, Field, SubmitButton, fieldError, useSubmit } from '../components/forms';
import { usePageTitle } from '../components/Layout';
import { Checkbox, Fieldset, TextArea } from '../components/moreFields';
import { useSession } from '../session';
import './Profile.css';

type Form = Record<string, string>;

const text = (v: string | null | undefined): string => v ?? '';
/** An emptied optional field clears it (the API's null), rather than saving "". */
const orNull = (v: string): string | null => (v.trim() === '' ? null : v.trim());

function clientForm(u: ClientUser): Form {
  const ec = u.emergencyContact;
  return {
    name: u.name,
    phone: text(u.phone),
    address: text(u.address),
    insurance: text(u.insurance),
    'emergencyContact.name': text(ec?.name),
    'emergencyContact.phone': text(ec?.phone),
    'emergencyContact.relationship': text(ec?.relationship),
  };
}

function providerForm(u: ProviderUser): Form {
  return {
    name: u.name,
    phone: text(u.phone),
    specialty: text(u.specialty),
    license: text(u.license),
    bio: text(u.bio),
    timeZone: u.timeZone,
  };
}

function clientUpdate(f: Form): MeUpdate {
  const contact = {
    name: orNull(f['emergencyContact.name']),
    phone: orNull(f['emergencyContact.phone']),
    relationship: orNull(f['emergencyContact.relationship']),
  };
  const anyContact = contact.name !== null || contact.phone !== null || contact.relationship !== null;
  return {
    name: f.name.trim(),
    phone: orNull(f.phone),
    address: orNull(f.address),
    insurance: orNull(f.insurance),
    emergencyContact: anyContact ? contact : null,
  };
}

function providerUpdate(f: Form): MeUpdate {
  return {
    name: f.name.trim(),
    phone: orNull(f.phone),
    specialty: orNull(f.specialty),
    license: orNull(f.license),
    bio: orNull(f.bio),
    timeZone: f.timeZone.trim(),
  };
}

const PREFS: readonly [keyof NotificationPrefs, string, string][] = [
  ['reminders', 'Session reminders', 'An email the day before each session.'],
  ['messages', 'New messages', 'An email when a secure message is waiting for you.'],
  ['appointments', 'Changes to appointments', 'An email when a session is booked, confirmed, moved or cancelled.'],
];

const CLIENT_FIELDS = [
  'name', 'phone', 'address', 'insurance',
  'emergencyContact', 'emergencyContact.name', 'emergencyContact.phone', 'emergencyContact.relationship',
];
const PROVIDER_FIELDS = ['name', 'phone', 'specialty', 'license', 'bio', 'timeZone'];
const PREF_FIELDS = PREFS.map(([key]) => `notificationPrefs.${key}`);
const PASSWORD_FIELDS = ['currentPassword', 'newPassword'];

function Saved({ message }: { message: string | null }) {
  return (
    <div className={message ? 'notice' : undefined} role="status">
      {message}
    </div>
  );
}

function DetailsForm({ user, onSubmitting, showErrors }: { user: User; onSubmitting: () => void; showErrors: boolean }) {
  const { setUser } = useSession();
  const isClient = user.userType === 'client';
  const [form, setForm] = useState<Form>(() => (isClient ? clientForm(user) : providerForm(user)));
  const [prefs, setPrefs] = useState<NotificationPrefs>(user.notificationPrefs);
  const [saved, setSaved] = useState<string | null>(null);
  const { busy, error, onSubmit } = useSubmit(async () => {
    setSaved(null);
    const fields = isClient ? clientUpdate(form) : providerUpdate(form);
    const updated = await api.updateMe({ ...fields, notificationPrefs: prefs });
    setUser(updated);
    setForm(updated.userType === 'client' ? clientForm(updated) : providerForm(updated));
    setPrefs(updated.notificationPrefs);
    setSaved('Your profile has been saved.');
  });
  const shown = showErrors ? error : null;
  const input = (id: string, label: string, extra: { autoComplete?: string; hint?: string } = {}) => (
    <Field
      id={id}
      label={label}
      value={form[id]}
      onChange={(v) => setForm((f) => ({ ...f, [id]: v }))}
      error={fieldError(shown, id)}
      {...extra}
    />
  );
  const area = (id: string, label: string, autoComplete?: string) => (
    <TextArea
      id={id}
      label={label}
      value={form[id]}
      autoComplete={autoComplete}
      onChange={(v) => setForm((f) => ({ ...f, [id]: v }))}
      error={fieldError(shown, id)}
    />
  );
  const contactError = fieldError(shown, 'emergencyContact');
  return (
    <section aria-labelledby="details-title">
      <h2 id="details-title">Your details</h2>
      <ErrorSummary error={shown} fields={[...(isClient ? CLIENT_FIELDS : PROVIDER_FIELDS), ...PREF_FIELDS]} />
      <Saved message={saved} />
      <p>
        You sign in as <strong className="profile__email">{user.email}</strong>.
      </p>
      <form
        noValidate
        onSubmit={(e) => {
          onSubmitting();
          return onSubmit(e);
        }}
      >
        {input('name', 'Name', { autoComplete: 'name' })}
        {input('phone', 'Phone', { autoComplete: 'tel', hint: 'For example 555 010 0199 or +1 555 010 0199.' })}
        {isClient ? (
          <>
            {area('address', 'Address', 'street-address')}
            {input('insurance', 'Insurance', { hint: 'Your insurer and member number, if you use insurance.' })}
            <Fieldset legend="Emergency contact" hint="Someone your practice may call in an emergency.">
              {contactError && (
                <p className="field-error" id="emergencyContact">
                  <span className="visually-hidden">Error: </span>
                  {contactError}
                </p>
              )}
              {input('emergencyContact.name', 'Contact name')}
              {input('emergencyContact.phone', 'Contact phone')}
              {input('emergencyContact.relationship', 'Relationship', { hint: 'For example partner, parent or friend.' })}
            </Fieldset>
          </>
        ) : (
          <>
            {input('specialty', 'Specialty')}
            {input('license', 'License number')}
            {area('bio', 'About you', undefined)}
            {input('timeZone', 'Time zone', {
              hint: 'Your working hours and every session are in this zone, for example America/New_York.',
            })}
          </>
        )}
        <Fieldset legend="Email notifications" hint="Mail about your account itself is always sent.">
          {PREFS.map(([key, label, hint]) => (
            <Checkbox
              key={key}
              id={`notificationPrefs.${key}`}
              label={label}
              hint={hint}
              checked={prefs[key]}
              onChange={(on) => setPrefs((p) => ({ ...p, [key]: on }))}
              error={fieldError(shown, `notificationPrefs.${key}`)}
            />
          ))}
        </Fieldset>
        <SubmitButton busy={busy}>Save changes</SubmitButton>
      </form>
    </section>
  );
}

function PasswordForm({ onSubmitting, showErrors }: { onSubmitting: () => void; showErrors: boolean }) {
  const { setUser } = useSession();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [saved, setSaved] = useState<string | null>(null);
  const { busy, error, onSubmit } = useSubmit(async () => {
    setSaved(null);
    setUser(await api.changePassword(current, next));
    setCurrent('');
    setNext('');
    setSaved('Your password has been changed. You have been signed out everywhere else.');
  });
  const shown = showErrors ? error : null;
  return (
    <section aria-labelledby="password-title">
      <h2 id="password-title">Change password</h2>
      <ErrorSummary error={shown} fields={PASSWORD_FIELDS} />
      <Saved message={saved} />
      <form
        noValidate
        onSubmit={(e) => {
          onSubmitting();
          return onSubmit(e);
        }}
      >
        <Field
          id="currentPassword"
          label="Current password"
          type="password"
          autoComplete="current-password"
          value={current}
          onChange={setCurrent}
          error={fieldError(shown, 'currentPassword')}
        />
        <Field
          id="newPassword"
          label="New password"
          type="password"
          autoComplete="new-password"
          hint="At least 8 characters. Other devices signed in to your account will be signed out."
          value={next}
          onChange={setNext}
          error={fieldError(shown, 'newPassword')}
        />
        <SubmitButton busy={busy}>Change password</SubmitButton>
      </form>
    </section>
  );
}

export default function Profile() {
  usePageTitle('Profile');
  const { user } = useSession();
  // one error summary on the page at a time: the form sent last
  const [last, setLast] = useState<'details' | 'password' | null>(null);
  if (!user) return null;
  return (
    <>
      <h1>Profile</h1>
      <DetailsForm user={user} onSubmitting={() => setLast('details')} showErrors={last === 'details'} />
      <PasswordForm onSubmitting={() => setLast('password')} showErrors={last === 'password'} />
    </>
  );
}
