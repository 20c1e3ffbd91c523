// The shapes of the DocPortal API, named after its members. They come from the project's OpenAPI
// document (docs/openapi.json) through schema.d.ts, which `npm run api-types` generates from it
// (build/portal.sh does so on every build when the document is there): a change of the API
// that the portal does not follow fails the portal's type check.
import type { components } from './schema';

type Schemas = components['schemas'];

export type User = Schemas['User'];
export type ProviderUser = Schemas['ProviderUser'];
export type ClientUser = Schemas['ClientUser'];
export type SessionAnswer = Schemas['SessionAnswer'];
export type UserAnswer = Schemas['UserAnswer'];
/** What PATCH /api/auth/me takes: profile fields of the caller's type, notificationPrefs. */
export type MeUpdate = Schemas['MeInput'];
export type NotificationPrefs = Schemas['NotificationPrefs'];
export type RegisterRequest = Omit<Schemas['RegisterInput'], 'session'>;
export type Appointment = Schemas['Appointment'];
export type AppointmentStatus = Schemas['AppointmentStatus'];
export type ClientBookingInput = Schemas['ClientBookingInput'];
export type AppointmentPatch = Schemas['AppointmentPatch'];
export type Slots = Schemas['Slots'];
export type Slot = Schemas['Slot'];
export type ClientDashboard = Schemas['ClientDashboard'];
export type ProviderDashboard = Schemas['ProviderDashboard'];
export type BillingConfig = Schemas['BillingConfig'];
export type AuthConfig = Schemas['AuthConfig'];
export type Invoice = Schemas['Invoice'];
export type PaymentResult = Schemas['PaymentResult'];
export type VideoLink = Schemas['VideoLink'];
export type PublicProvider = Schemas['PublicProvider'];
export type Message = Schemas['Message'];
/** The body of every error answer. */
export type ErrorBody = Schemas['Error'];
