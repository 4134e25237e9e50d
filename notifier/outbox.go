package notifier

import (
	"time"

	"sigill/vault"
)

// The notifier's side of the outbox: the vault (vault.Outbox) keeps jobs,
// leases with their fencing generation and delivery records atomically;
// the notifier decides how long a lease lasts (Options.Lease), what each
// outcome is called, and keeps the delivery records itself
// (deliveries.go).

// deliveryMemory is how long provider ids are kept for delivery reports.
const deliveryMemory = 7 * 24 * time.Hour

// notified is the outcome of a job the provider took under id: for a
// notification a "notified" event naming the provider, with the id kept for
// delivery reports; a receipt mailed to its sender has no receipt, and
// records nothing but its end. Every outcome carries its job (vault.Outcome.Job),
// which spares the vault's committer reading again what it knew of it.
func notified(j vault.Job, provider, id string) vault.Outcome {
	if j.Kind != vault.JobNotify {
		return vault.Outcome{Job: &j}
	}
	return vault.Outcome{Event: vault.EventNotified, Provider: provider, ProviderID: id, Job: &j}
}

// failed is the outcome of a job given up: for a notification a "failed"
// event with the reason (the sender's failure receipt follows from it); a
// receipt that cannot be mailed is no failure of the letter (it stays in
// the IMAP mailbox), and is only dropped.
func failed(j vault.Job, reason string) vault.Outcome {
	if j.Kind != vault.JobNotify {
		return vault.Outcome{Job: &j}
	}
	return vault.Outcome{Event: vault.EventFailed, Reason: reason, Job: &j}
}
