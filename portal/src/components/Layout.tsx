// The frame of every page: a skip link, the service name, and once signed in the navigation
// and "Log out". Each page names itself in the document title.
import { useEffect, useRef } from 'react';
import { NavLink, Navigate, Outlet, useLocation, useNavigate } from 'react-router-dom';
import { useSession } from '../session';
import { Loading } from './forms';

export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} – DocPortal`;
  }, [title]);
}

function Header({ children }: { children?: React.ReactNode }) {
  return (
    <header className="header">
      <div className="container header__inner">
        <span className="header__name">DocPortal</span>
        {children}
      </div>
    </header>
  );
}

/** Pages for everyone (sign-in, mailed links). */
export function PublicLayout() {
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to main content
      </a>
      <Header />
      <main id="main" className="container main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}

const LINKS = [
  ['/dashboard', 'Dashboard'],
  ['/appointments', 'Appointments'],
  ['/messages', 'Messages'],
  ['/billing', 'Billing'],
  ['/profile', 'Profile'],
] as const;

/** Pages that need a session: without one, to /login and back here afterwards. */
export function SignedInLayout() {
  const { user, logout } = useSession();
  const location = useLocation();
  const navigate = useNavigate();
  const main = useRef<HTMLElement>(null);

  // a new page moves the focus to its content, as a page load would
  useEffect(() => {
    main.current?.focus({ preventScroll: true });
  }, [location.pathname]);

  if (user === undefined) return <Loading>Loading…</Loading>;
  if (user === null) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/login?next=${next}`} replace />;
  }
  const onLogout = async () => {
    await logout().catch(() => undefined);
    navigate('/login', { replace: true });
  };
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to main content
      </a>
      <Header>
        <span className="header__user">{user.name ?? user.email}</span>
      </Header>
      <nav className="nav" aria-label="Main">
        <div className="container nav__inner">
          <ul className="nav__list">
            {LINKS.map(([to, label]) => (
              <li key={to}>
                <NavLink to={to} className="nav__link">
                  {label}
                </NavLink>
              </li>
            ))}
          </ul>
          <button className="button button--secondary nav__logout" type="button" onClick={onLogout}>
            Log out
          </button>
        </div>
      </nav>
      <main id="main" className="container main" tabIndex={-1} ref={main}>
        <Outlet />
      </main>
    </>
  );
}
