"""The study's AutoAugment-SVHN expansion: the policy table, its ops and the stochastic variant."""
