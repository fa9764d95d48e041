package job

// Result is how a job ended on one peer.
type Result struct {
	ModelName  string `json:"model_name"`
	Version    int    `json:"model_version"`
	ModelPath  string `json:"model_path"`
	ModelHash  string `json:"model_hash"`  // SHA-256 of the model file
	ParamsHash string `json:"params_hash"` // SHA-256 of the final parameter vector
	ModelBytes int64  `json:"model_bytes"`
	Steps      int    `json:"steps"`
	// Rounds counts the training periods in which this peer averaged with a
	// partner (it started the exchange or answered one); ConsensusRounds
	// the same for the consensus phase, where each round is a period.
	Rounds int `json:"averaging_rounds"`
	// Periods counts the averaging periods of the training phase (every H
	// local steps with a partner in sight), whether or not this peer's
	// exchange of the period worked.
	Periods         int     `json:"averaging_periods"`
	ConsensusRounds int     `json:"consensus_rounds"`
	Exchanges       int64   `json:"exchanges"` // completed, started by either side
	Rejected        int64   `json:"rejected"`
	BytesSent       int64   `json:"bytes_sent"`
	BytesRecv       int64   `json:"bytes_recv"`
	Distance        float64 `json:"consensus_distance"`
	ProbeAccuracy   float64 `json:"probe_accuracy"`
	NonFinite       int     `json:"non_finite_seen"` // times this peer's params held NaN/Inf
	// TrainBytesSent and TrainExchanges cover the training phase only
	// (the consensus phase and the final fetch are not averaging rounds).
	TrainBytesSent int64 `json:"train_bytes_sent"`
	TrainExchanges int64 `json:"train_exchanges"`
	// MaxRoundShift is the largest relative change ‖after − before‖/‖before‖
	// one averaging exchange of the training phase (started by either side)
	// made to this peer's parameters: honest partners move it by a few
	// percent, a partner that slips a scaled vector past the guard rails by
	// far more than 1 (avg.Totals.MaxShift).
	MaxRoundShift float64 `json:"max_round_shift"`
	// ResumedFrom is the step this peer's run resumed from after a
	// restart (0: it started afresh).
	ResumedFrom int `json:"resumed_from"`
}
