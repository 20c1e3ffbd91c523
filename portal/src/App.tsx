import { useEffect } from 'react';
import { Navigate, Route, Routes, useLocation, useNavigate } from 'react-router-dom';
import { setUnauthorizedHandler } from './api/client';
import { PublicLayout, SignedInLayout } from './components/Layout';
import { Loading } from './components/forms';
import Appointments from './screens/Appointments';
import Billing from './screens/Billing';
import CheckEmail from './screens/CheckEmail';
import Dashboard from './screens/Dashboard';
import ForgotPassword from './screens/ForgotPassword';
import Invite from './screens/Invite';
import Login, { safeNext } from './screens/Login';
import Messages from './screens/Messages';
import NotFound from './screens/NotFound';
import Profile from './screens/Profile';
import Register from './screens/Register';
import ResetPassword from './screens/ResetPassword';
import VerifyEmail from './screens/VerifyEmail';
import { useSession } from './session';

/** A session that ends (401 on a signed-in call) sends the user to /login, then back. */
function UnauthorizedToLogin() {
  const { setUser } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  useEffect(() => {
    setUnauthorizedHandler(() => {
      setUser(null);
      const here = location.pathname + location.search;
      navigate(`/login?next=${encodeURIComponent(here)}`, { replace: true });
    });
    return () => setUnauthorizedHandler(null);
  }, [navigate, location, setUser]);
  return null;
}

/** Sign-in pages are for people without a session; with one, straight on. */
function SignedOutOnly({ children }: { children: JSX.Element }) {
  const { user } = useSession();
  const location = useLocation();
  if (user === undefined) return <Loading>Loading…</Loading>;
  if (user) return <Navigate to={safeNext(new URLSearchParams(location.search).get('next'))} replace />;
  return children;
}

export default function App() {
  return (
    <>
      <UnauthorizedToLogin />
      <Routes>
        <Route element={<PublicLayout />}>
          <Route path="/login" element={<SignedOutOnly><Login /></SignedOutOnly>} />
          <Route path="/register" element={<SignedOutOnly><Register /></SignedOutOnly>} />
          <Route path="/invite" element={<SignedOutOnly><Invite /></SignedOutOnly>} />
          <Route path="/forgot-password" element={<ForgotPassword />} />
          <Route path="/reset-password" element={<ResetPassword />} />
          <Route path="/verify-email" element={<VerifyEmail />} />
          <Route path="/check-email" element={<CheckEmail />} />
        </Route>
        <Route element={<SignedInLayout />}>
          <Route path="/dashboard" element={<Dashboard />} />
          <Route path="/appointments/*" element={<Appointments />} />
          <Route path="/messages" element={<Messages />} />
          <Route path="/billing" element={<Billing />} />
          <Route path="/profile" element={<Profile />} />
        </Route>
        <Route path="/" element={<Navigate to="/dashboard" replace />} />
        <Route element={<PublicLayout />}>
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </>
  );
}
