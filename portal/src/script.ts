// A third party's script (Stripe.js, Google Identity Services) added to the page at run time
// by a script element, from the URL the API names: the page has no inline script, and its
// Content-Security-Policy lets in that one origin.

const loads = new Map<string, Promise<void>>();

/** Loads url once per page and resolves with what ready() finds on window once it ran; a
 * failed load may be tried again. */
export function loadScript<T>(url: string, ready: () => T | undefined, failure: string, what: string): Promise<T> {
  const present = ready();
  if (present) return Promise.resolve(present);
  let load = loads.get(url);
  if (!load) {
    load = new Promise<void>((resolve, reject) => {
      const script = document.createElement('script');
      script.src = url;
      script.async = true;
      script.onload = () => resolve();
      script.onerror = () => {
        script.remove();
        loads.delete(url);
        reject(new Error(failure));
      };
      document.head.appendChild(script);
    });
    loads.set(url, load);
  }
  return load.then(() => {
    const loaded = ready();
    if (!loaded) throw new Error(`${what} did not start.`);
    return loaded;
  });
}
