"""Harbour Bank's product facts: the single source of the product sheets and of the gold answers.

Harbour Bank is fictional. The figures are realistic for Hong Kong retail banking but are not any
real bank's; rendering the sheets and the answers from the same facts keeps every gold answer
supported by the corpus.
"""

from __future__ import annotations

CARDS = [
    {
        "key": "classic",
        "name": "Harbour Classic Visa",
        "annual_fee": "HK$0",
        "annual_fee_note": "no annual fee for life",
        "min_income": "HK$96,000",
        "rebate": "0.4% cash rebate on all eligible spending",
        "reward_figures": ["0.4%"],
        "extra": "Supplementary cards are free of charge.",
    },
    {
        "key": "platinum",
        "name": "Harbour Platinum Mastercard",
        "annual_fee": "HK$1,800",
        "annual_fee_note": "waived for the first year",
        "min_income": "HK$240,000",
        "rebate": "1.2% cash rebate on online spending and 0.4% on other eligible spending",
        "reward_figures": ["1.2%", "0.4%"],
        "extra": "Cardholders get 2 complimentary airport lounge visits per year.",
    },
    {
        "key": "signature",
        "name": "Harbour Signature Visa",
        "annual_fee": "HK$4,000",
        "annual_fee_note": "waived when annual spending reaches HK$300,000",
        "min_income": "HK$600,000",
        "rebate": "1 air mile for every HK$4 of eligible spending",
        "reward_figures": ["HK$4"],
        "extra": "Cardholders get 6 complimentary airport lounge visits per year.",
    },
]

CARD_FEES = {
    "purchase_apr": "35.57%",
    "interest_free_days": "56",
    "late_fee": "HK$300",
    "cash_advance_fee": "3.5%",
    "cash_advance_min": "HK$100",
    "fx_fee": "1.95%",
    "overlimit_fee": "HK$180",
    "replacement_fee": "HK$100",
    "min_payment_pct": "1%",
    "min_payment_floor": "HK$50",
    "lost_card_liability": "HK$500",
}

SAVINGS = {
    "rate": "0.125%",
    "min_balance": "HK$10,000",
    "low_balance_fee": "HK$50",
}

TIME_DEPOSIT_HKD = {"1 month": "3.20%", "3 months": "3.60%", "6 months": "3.50%", "12 months": "3.30%"}
TIME_DEPOSIT_USD = {"3 months": "4.50%", "6 months": "4.30%"}
TIME_DEPOSIT = {
    "min_hkd": "HK$10,000",
    "min_usd": "US$2,000",
    "early_fee": "HK$200",
    "dps_limit": "HK$800,000",
}

MORTGAGE = {
    "spread": "1.30%",
    "cap_discount": "1.75%",
    "prime": "5.875%",
    "cap_rate": "4.125%",
    "max_tenor": "30 years",
    "age_limit": "75",
    "ltv": "70%",
    "ltv_mip": "90%",
    "mip_value_limit": "HK$10,000,000",
    "dsr": "50%",
    "min_loan": "HK$500,000",
    "rebate": "1.5%",
    "rebate_min_loan": "HK$3,000,000",
    "prepay_y1": "2%",
    "prepay_y2": "1%",
}

PERSONAL_LOAN = {
    "min_amount": "HK$10,000",
    "max_amount": "HK$1,000,000",
    "salary_multiple": "12",
    "min_tenor": "6 months",
    "max_tenor": "60 months",
    "apr_from": "3.25%",
    "early_fee": "2%",
    "min_income": "HK$8,000",
    "age_min": "18",
    "age_max": "65",
}

GENERAL_FEES = {
    "paper_statement": "HK$20",
    "overseas_atm": "HK$25",
    "tt_online": "HK$120",
    "tt_branch": "HK$240",
    "stop_cheque": "HK$150",
    "early_closure": "HK$200",
    "early_closure_months": "3 months",
}

COMPLAINTS = {
    "ack_days": "7 days",
    "reply_days": "30 days",
    "fdrc_limit": "HK$1,000,000",
    "fdrc_months": "12 months",
}


def _card_section(card: dict[str, str]) -> str:
    return (
        f"## {card['name']}\n\n"
        f"- Annual fee: {card['annual_fee']} ({card['annual_fee_note']}).\n"
        f"- Minimum annual income to apply: {card['min_income']}.\n"
        f"- Rewards: {card['rebate']}.\n"
        f"- {card['extra']}\n"
    )


def credit_cards_md() -> str:
    f = CARD_FEES
    body = "\n".join(_card_section(c) for c in CARDS)
    return (
        "# Harbour Bank credit cards\n\n"
        "Harbour Bank offers three credit cards. Fees and rates below apply from 1 January 2025.\n\n"
        f"{body}\n"
        "## Credit card fees and charges (all cards)\n\n"
        f"- Purchase interest rate (annualised percentage rate, APR): {f['purchase_apr']}.\n"
        f"- Interest-free period on purchases: up to {f['interest_free_days']} days when the statement "
        "balance is paid in full by the due date.\n"
        f"- Late payment fee: {f['late_fee']}, or the minimum payment due if that is lower.\n"
        f"- Cash advance handling fee (withdrawing cash with the card): {f['cash_advance_fee']} of the "
        f"amount withdrawn, minimum "
        f"{f['cash_advance_min']} per withdrawal.\n"
        f"- Foreign currency transaction fee (card spending overseas or in other currencies): {f['fx_fee']} "
        f"of the converted amount.\n"
        f"- Over-limit fee: {f['overlimit_fee']} per statement cycle, only if the customer has opted in to "
        "over-limit transactions.\n"
        f"- Card replacement fee: {f['replacement_fee']} per card.\n"
        f"- Minimum payment: {f['min_payment_pct']} of the statement balance plus interest and fees, "
        f"and at least {f['min_payment_floor']}.\n\n"
        "## Lost or stolen cards\n\n"
        "Report a lost or stolen card at once through the Harbour Bank app or the 24-hour Customer Service "
        "Hotline. Before you report the loss, your liability for unauthorised transactions is capped at "
        f"{f['lost_card_liability']}, unless you acted fraudulently or with gross negligence.\n"
    )


def deposits_md() -> str:
    s, t = SAVINGS, TIME_DEPOSIT
    hkd_rows = "\n".join(f"| {tenor} | {rate} p.a. |" for tenor, rate in TIME_DEPOSIT_HKD.items())
    usd_rows = "\n".join(f"| {tenor} | {rate} p.a. |" for tenor, rate in TIME_DEPOSIT_USD.items())
    return (
        "# Harbour Bank deposit accounts\n\n"
        "## Harbour Savings Account\n\n"
        f"- Interest rate: {s['rate']} p.a. on the whole balance, credited monthly.\n"
        f"- Minimum average monthly balance: {s['min_balance']}. Below that balance a low-balance fee of "
        f"{s['low_balance_fee']} per month applies.\n"
        "- The low-balance fee is waived for customers aged 65 or above, customers under 18, and holders of "
        "a valid Comprehensive Social Security Assistance (CSSA) card.\n\n"
        "## HKD time deposits\n\n"
        f"Minimum placement: {t['min_hkd']}. Interest is paid at maturity. Rates for new placements:\n\n"
        "| Tenor | Interest rate |\n|---|---|\n"
        f"{hkd_rows}\n\n"
        "## USD time deposits\n\n"
        f"Minimum placement: {t['min_usd']}. Rates for new placements:\n\n"
        "| Tenor | Interest rate |\n|---|---|\n"
        f"{usd_rows}\n\n"
        "## Early withdrawal of time deposits\n\n"
        "A time deposit cannot normally be withdrawn before maturity. If the bank agrees to an early "
        f"withdrawal, all accrued interest is forfeited and a handling fee of {t['early_fee']} applies.\n\n"
        "## Deposit Protection Scheme\n\n"
        "Savings accounts and time deposits with a tenor of not more than 5 years are protected deposits "
        "under the Deposit Protection Scheme in Hong Kong, up to "
        f"{t['dps_limit']} per depositor.\n"
    )


def mortgages_md() -> str:
    m = MORTGAGE
    return (
        "# Harbour Home Mortgage\n\n"
        "## Interest rate\n\n"
        f"The HIBOR plan charges 1-month HIBOR + {m['spread']} p.a., capped at Harbour Prime Rate "
        f"minus {m['cap_discount']} p.a. The Harbour Prime Rate is currently {m['prime']} p.a., so the "
        f"cap is currently {m['cap_rate']} p.a.\n\n"
        "## Loan amount and tenor\n\n"
        f"- Minimum loan amount (the smallest home loan we offer): {m['min_loan']}.\n"
        f"- Maximum loan-to-value ratio: {m['ltv']} of the property value or purchase price, whichever is "
        "lower.\n"
        f"- With mortgage insurance, up to {m['ltv_mip']} for properties valued up to "
        f"{m['mip_value_limit']}.\n"
        f"- Maximum tenor: {m['max_tenor']}. The borrower's age plus the tenor must not exceed "
        f"{m['age_limit']} years.\n"
        f"- Debt servicing ratio (DSR): total monthly debt repayments must not exceed {m['dsr']} of monthly "
        "income.\n\n"
        "## Cash rebate\n\n"
        f"A cash rebate of {m['rebate']} of the loan amount is paid for loans of {m['rebate_min_loan']} or "
        "more.\n\n"
        "## Prepayment\n\n"
        f"A prepayment charge of {m['prepay_y1']} of the amount prepaid applies in the first year after "
        f"drawdown and {m['prepay_y2']} in the second year. There is no prepayment charge from the third "
        "year.\n"
    )


def personal_loan_md() -> str:
    p = PERSONAL_LOAN
    return (
        "# Harbour Personal Instalment Loan\n\n"
        "## Loan terms\n\n"
        f"- Loan amount: {p['min_amount']} to {p['max_amount']}, and not more than {p['salary_multiple']} "
        "times the monthly salary.\n"
        f"- Repayment tenor: {p['min_tenor']} to {p['max_tenor']}.\n"
        f"- Annualised percentage rate (APR): from {p['apr_from']}, depending on the applicant's credit "
        "assessment.\n"
        "- No handling fee.\n"
        f"- Early settlement fee: {p['early_fee']} of the outstanding principal.\n"
    )


def eligibility_md() -> str:
    p, m = PERSONAL_LOAN, MORTGAGE
    cards = "\n".join(f"- {c['name']}: minimum annual income {c['min_income']}." for c in CARDS)
    return (
        "# Eligibility requirements\n\n"
        "## Opening a Harbour Savings Account\n\n"
        "- Applicants must be aged 18 or above. Customers under 18 can open an account jointly with a "
        "parent or guardian.\n"
        "- Documents: a Hong Kong Identity Card or a valid passport, and proof of residential address "
        "dated within the last 3 months.\n"
        "- Foreign domestic helpers can open an account with a passport, a valid employment contract and "
        "proof of address.\n\n"
        "## Credit cards\n\n"
        "Applicants must be aged 18 or above and meet the minimum annual income of the card:\n\n"
        f"{cards}\n\n"
        "## Personal Instalment Loan\n\n"
        f"Applicants must be aged {p['age_min']} to {p['age_max']}, hold a Hong Kong Identity Card, and have "
        f"a monthly income of at least {p['min_income']}.\n\n"
        "## Harbour Home Mortgage\n\n"
        f"Applicants must be aged 18 or above; age plus loan tenor must not exceed {m['age_limit']} years, "
        f"and the debt servicing ratio must not exceed {m['dsr']}.\n\n"
        "## Equal treatment\n\n"
        "Eligibility depends only on the criteria above and the bank's credit assessment. It does not "
        "depend on sex, race, disability, family status or pregnancy.\n"
    )


def fees_md() -> str:
    g = GENERAL_FEES
    return (
        "# General fees and charges\n\n"
        "## Account services\n\n"
        f"- Paper statement: {g['paper_statement']} per month. E-statements are free.\n"
        f"- Account closure within {g['early_closure_months']} of opening: {g['early_closure']}.\n"
        f"- Stop payment of a cheque: {g['stop_cheque']} per cheque.\n\n"
        "## Payments and cash\n\n"
        f"- Overseas ATM cash withdrawal: {g['overseas_atm']} per withdrawal.\n"
        f"- Outward telegraphic transfer: {g['tt_online']} through online banking, {g['tt_branch']} at a "
        "branch.\n"
        "- Faster Payment System (FPS) transfers in Hong Kong: free of charge.\n"
    )


def support_md() -> str:
    c = COMPLAINTS
    return (
        "# Customer support and complaints\n\n"
        "## Our AI assistant\n\n"
        "Harbour Bank's chat assistant is an AI system. It answers questions about Harbour Bank products "
        "from the bank's product sheets. It does not give investment, tax or legal advice. Customers can "
        "ask to speak to a human colleague at any time.\n\n"
        "## Making a complaint\n\n"
        "Complaints are handled by the Customer Care team, not by the AI assistant. Customers can complain "
        "through the app, at any branch, or through the Customer Service Hotline.\n"
        f"- We acknowledge a complaint within {c['ack_days']}.\n"
        f"- We give a full reply within {c['reply_days']}.\n"
        "- If you are not satisfied with our reply, you may refer a monetary dispute of up to "
        f"{c['fdrc_limit']} to the Financial Dispute Resolution Centre within {c['fdrc_months']} of our "
        "final reply, or complain to the Hong Kong Monetary Authority.\n\n"
        "## Suspected fraud\n\n"
        "If you see a transaction you did not make, or someone asks you for your one-time password, call "
        "the 24-hour Customer Service Hotline at once. Harbour Bank never asks for your password or "
        "one-time password by phone, SMS or email.\n\n"
        "## Customers who need extra support\n\n"
        "Customers in financial difficulty, bereaved families and customers who need extra support are "
        "served by a specialist team. The AI assistant transfers these conversations to a human "
        "colleague.\n"
    )


SHEETS = {
    "credit_cards.md": credit_cards_md,
    "deposits.md": deposits_md,
    "mortgages.md": mortgages_md,
    "personal_loan.md": personal_loan_md,
    "eligibility.md": eligibility_md,
    "fees_and_charges.md": fees_md,
    "support_and_complaints.md": support_md,
}
