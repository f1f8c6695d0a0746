//! The SMTP client (lettre over rustls): builds and sends one plain-text mail, every exchange
//! bounded by [`SMTP_TIMEOUT`].

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::EmailSettings;

/// Why a mail was not delivered.
#[derive(Debug, Clone)]
pub struct SendError {
    /// What went wrong (no secrets: lettre's errors do not carry the URL).
    pub message: String,
    /// Retrying cannot help (5xx refusal, bad address).
    pub permanent: bool,
}

/// An SMTP client for `email.smtp_url`: `smtp://` (plain), `smtp://…?tls=required`
/// (STARTTLS), `smtps://` (TLS); `user:password@` in the URL authenticates.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish()
    }
}

/// Longest one mail's SMTP exchange (connect, greeting, commands, data) may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

impl Mailer {
    /// Build the client (no connection is made until the first mail).
    pub fn from_settings(email: &EmailSettings) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(email.smtp_url.expose())
            .map_err(|e| format!("email.smtp_url ({}): {e}", email.smtp_url.redacted()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = email
            .from
            .parse()
            .map_err(|e| format!("email.from: `{}` is not an address: {e}", email.from))?;
        Ok(Self { transport, from })
    }

    /// Send one plain-text mail to the comma-separated `recipients`.
    pub async fn send(&self, recipients: &str, subject: &str, body: &str) -> Result<(), SendError> {
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        for to in recipients.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let mailbox: Mailbox = to.parse().map_err(|e| SendError {
                message: format!("recipient `{to}`: {e}"),
                permanent: true,
            })?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| SendError {
                message: format!("cannot build the message: {e}"),
                permanent: true,
            })?;
        // lettre's own timeout bounds only the connect: a server that accepts and never
        // answers would hold the sender (and its job lease) forever. The whole exchange is
        // bounded here; a timeout is a transient failure, retried with backoff.
        match tokio::time::timeout(SMTP_TIMEOUT, self.transport.send(message)).await {
            Ok(sent) => sent.map(|_| ()).map_err(|e| SendError {
                message: e.to_string(),
                permanent: e.is_permanent(),
            }),
            Err(_) => Err(SendError {
                message: format!("the SMTP server did not complete the exchange within {SMTP_TIMEOUT:?}"),
                permanent: false,
            }),
        }
    }
}
