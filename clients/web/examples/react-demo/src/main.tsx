import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createSessionClient } from '@sessiond/client';
import { SessionErrorBoundary, SessionProvider, ToastProvider } from '@sessiond/react';
import { App } from './App';
import './style.css';

// The daemon's base URL comes from ?api=… so the built app works behind any static server.
const api = new URLSearchParams(window.location.search).get('api') ?? 'http://127.0.0.1:8080';
const client = createSessionClient({ baseUrl: api, userInfo: { app: 'react-demo' } });

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <SessionErrorBoundary
        fallback={(error, retry) => (
          <div role="alert">
            <p>Something broke: {error.message}</p>
            <button type="button" onClick={retry}>
              Try again
            </button>
          </div>
        )}
      >
        <ToastProvider>
          <SessionProvider client={client}>
            <App api={api} />
          </SessionProvider>
        </ToastProvider>
      </SessionErrorBoundary>
    </StrictMode>,
  );
}
