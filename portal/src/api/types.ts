// The shapes of the DocPortal API (docs/api.md), named after its members. Every field an
// answer carries is listed; a field may be null when unset, as the API documents.

export type UserType = 'provider' | 'client';

export interface NotificationPrefs {
  reminders: boolean;
  messages: boolean;
  appointments: boolean;
}

export interface EmergencyContact {
  name: string | null;
  phone: string | null;
  relationship: string | null;
}

interface UserBase {
  id: string;
  email: string;
  name: string | null;
  phone: string | null;
  avatar: string | null;
  emailVerified: boolean;
  notificationPrefs: NotificationPrefs;
  createdAt: string;
  updatedAt: string;
}

export interface ProviderUser extends UserBase {
  userType: 'provider';
  specialty: string | null;
  license: string | null;
  bio: string | null;
  hourlyRate: number | null;
  timeZone: string;
}

export interface ClientUser extends UserBase {
  userType: 'client';
  dateOfBirth: string | null;
  address: string | null;
  insurance: string | null;
  providerId: string | null;
  emergencyContact: EmergencyContact | null;
}

export type User = ProviderUser | ClientUser;

/** The answer of register, login, Google sign-in and reset-confirm in cookie mode. */
export interface SessionAnswer {
  user: User;
}

export interface RegisterRequest {
  email: string;
  password: string;
  name?: string;
  userType?: UserType;
  providerId?: string;
  inviteToken?: string;
}

export type AppointmentStatus = 'pending' | 'confirmed' | 'completed' | 'cancelled';

export interface Appointment {
  id: string;
  clientId: string;
  providerId: string;
  clientName: string | null;
  providerName: string | null;
  date: string;
  time: string;
  type: string;
  status: AppointmentStatus;
  notes: string | null;
  videoLink: string | null;
  timeZone: string;
  startsAt: string;
  endsAt: string;
  createdAt: string;
  updatedAt: string;
  duration: number;
  amount: number;
}

export interface ClientDashboard {
  upcomingAppointments: number;
  completedAppointments: number;
  completedSessions: number;
  unreadMessages: number;
  pendingPayments: number;
  outstandingAmount: number;
  nextAppointment: Appointment | null;
}

export interface ProviderDashboard {
  totalClients: number;
  upcomingAppointments: number;
  todayAppointments: number;
  appointmentsToday: number;
  appointmentsWeek: number;
  pendingAppointments: number;
  pendingNotes: number;
  activeClients: number;
  unreadMessages: number;
  messagesUnread: number;
  pendingInvoices: number;
  outstandingAmount: number;
  totalIncome: number;
  monthlyIncome: number;
  revenueThisMonth: number;
}

export interface BillingConfig {
  publishableKey: string | null;
  currency: string;
}

/** The body of every error answer. */
export interface ErrorBody {
  detail: string;
  code: string;
  field?: string;
}
