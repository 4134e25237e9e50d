package bankidsim

// The only personal numbers tests use: Skatteverket's test numbers.
const (
	pnA = "199908072391"
	pnB = "198611239883"
	pnC = "200211242383"
)
