//! Physical units and conversion factors.
//!
//! Every factor derives from the CODATA 2018 recommended values (E. Tiesinga, P. J. Mohr,
//! D. B. Newell, B. N. Taylor, "CODATA recommended values of the fundamental physical constants:
//! 2018", Rev. Mod. Phys. 93, 025010 (2021); NIST SP 961): the Hartree energy
//! `E_h = 27.211386245988 eV`, the Bohr radius `a_0 = 0.529177210903 Å`, the exact SI values of
//! the elementary charge `e = 1.602176634e-19 C`, the Avogadro constant
//! `N_A = 6.02214076e23 mol⁻¹` and the speed of light `c = 299792458 m/s`, plus the
//! thermochemical calorie `1 cal = 4.184 J` (exact by definition) and the Debye
//! `1 D = 1e-21 / c C·m`.
//!
//! Units of one [`Dimension`] convert into each other with [`convert`]; each unit's
//! [`Unit::symbol`] is the text stored in [`crate::Label::unit`].

/// Hartree energy in eV (CODATA 2018).
pub const HARTREE_EV: f64 = 27.211386245988;
/// Bohr radius in Å (CODATA 2018).
pub const BOHR_ANGSTROM: f64 = 0.529177210903;
/// Elementary charge in C (exact, SI 2019).
pub const ELEMENTARY_CHARGE_C: f64 = 1.602176634e-19;
/// Avogadro constant in mol⁻¹ (exact, SI 2019).
pub const AVOGADRO: f64 = 6.02214076e23;
/// Speed of light in m/s (exact).
pub const SPEED_OF_LIGHT: f64 = 299_792_458.0;
/// Thermochemical calorie in J (exact).
pub const CALORIE_J: f64 = 4.184;
/// One kcal/mol in eV: `4184 J / (N_A · e)` ≈ 0.0433641043.
pub const KCAL_PER_MOL_EV: f64 = 1000.0 * CALORIE_J / (AVOGADRO * ELEMENTARY_CHARGE_C);
/// One kJ/mol in eV: `1000 J / (N_A · e)` ≈ 0.0103642688.
pub const KJ_PER_MOL_EV: f64 = 1000.0 / (AVOGADRO * ELEMENTARY_CHARGE_C);
/// One Debye in e·Å: `(1e-21 / c) / (e · 1e-10 m)` ≈ 0.2081943.
pub const DEBYE_E_ANGSTROM: f64 = 1e-21 / SPEED_OF_LIGHT / (ELEMENTARY_CHARGE_C * 1e-10);
/// One cm⁻¹ in GHz: `c · 100 m⁻¹` = 29.9792458 GHz.
pub const WAVENUMBER_GHZ: f64 = SPEED_OF_LIGHT * 100.0 / 1e9;

/// What a unit measures; only units of one dimension convert into each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// Length (base Å).
    Length,
    /// Area (base Å²).
    Area,
    /// Volume (base Å³).
    Volume,
    /// Energy per particle (base eV).
    Energy,
    /// Force (base eV/Å).
    Force,
    /// Electric dipole moment (base e·Å).
    Dipole,
    /// Electric charge (base e).
    Charge,
    /// Frequency, including spectroscopic wavenumbers via `ν = c·ṽ` (base GHz).
    Frequency,
    /// Molar heat capacity (base cal/(mol·K)).
    HeatCapacity,
}

/// A unit nucleate converts between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Ångström.
    Angstrom,
    /// Bohr radius a₀.
    Bohr,
    /// Ų.
    Angstrom2,
    /// a₀².
    Bohr2,
    /// Å³.
    Angstrom3,
    /// a₀³ (atomic unit of polarizability volume).
    Bohr3,
    /// Electronvolt.
    EV,
    /// Millielectronvolt.
    MeV,
    /// Hartree E_h.
    Hartree,
    /// kcal/mol (thermochemical calorie).
    KcalPerMol,
    /// kJ/mol.
    KjPerMol,
    /// eV/Å.
    EVPerAngstrom,
    /// kcal/mol/Å.
    KcalPerMolPerAngstrom,
    /// Hartree/bohr.
    HartreePerBohr,
    /// Debye.
    Debye,
    /// e·Å.
    EAngstrom,
    /// e·a₀ (atomic unit of dipole moment).
    EBohr,
    /// Elementary charge e.
    E,
    /// Gigahertz.
    GHz,
    /// Wavenumber cm⁻¹.
    InverseCm,
    /// cal/(mol·K).
    CalPerMolK,
}

impl Unit {
    /// Every unit, for look-ups by symbol.
    pub const ALL: [Unit; 21] = [
        Unit::Angstrom,
        Unit::Bohr,
        Unit::Angstrom2,
        Unit::Bohr2,
        Unit::Angstrom3,
        Unit::Bohr3,
        Unit::EV,
        Unit::MeV,
        Unit::Hartree,
        Unit::KcalPerMol,
        Unit::KjPerMol,
        Unit::EVPerAngstrom,
        Unit::KcalPerMolPerAngstrom,
        Unit::HartreePerBohr,
        Unit::Debye,
        Unit::EAngstrom,
        Unit::EBohr,
        Unit::E,
        Unit::GHz,
        Unit::InverseCm,
        Unit::CalPerMolK,
    ];

    /// The symbol stored in labels (ASCII, e.g. `"eV"`, `"kcal/mol"`, `"bohr^3"`).
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Angstrom => "Ang",
            Unit::Bohr => "bohr",
            Unit::Angstrom2 => "Ang^2",
            Unit::Bohr2 => "bohr^2",
            Unit::Angstrom3 => "Ang^3",
            Unit::Bohr3 => "bohr^3",
            Unit::EV => "eV",
            Unit::MeV => "meV",
            Unit::Hartree => "Hartree",
            Unit::KcalPerMol => "kcal/mol",
            Unit::KjPerMol => "kJ/mol",
            Unit::EVPerAngstrom => "eV/Ang",
            Unit::KcalPerMolPerAngstrom => "kcal/mol/Ang",
            Unit::HartreePerBohr => "Hartree/bohr",
            Unit::Debye => "Debye",
            Unit::EAngstrom => "e*Ang",
            Unit::EBohr => "e*bohr",
            Unit::E => "e",
            Unit::GHz => "GHz",
            Unit::InverseCm => "cm^-1",
            Unit::CalPerMolK => "cal/mol/K",
        }
    }

    /// The unit written as `symbol` ([`Unit::symbol`], or a common alias such as `"Å"`, `"Ha"`,
    /// `"D"`, `"a0^3"`); `None` if unknown.
    pub fn from_symbol(symbol: &str) -> Option<Unit> {
        let s = symbol.trim();
        if let Some(u) = Unit::ALL.iter().find(|u| u.symbol() == s) {
            return Some(*u);
        }
        Some(match s {
            "Å" | "A" | "angstrom" => Unit::Angstrom,
            "a0" | "Bohr" => Unit::Bohr,
            "Å^2" | "Å²" => Unit::Angstrom2,
            "a0^2" | "bohr²" => Unit::Bohr2,
            "Å^3" | "Å³" => Unit::Angstrom3,
            "a0^3" | "bohr³" => Unit::Bohr3,
            "Ha" | "hartree" | "Eh" => Unit::Hartree,
            "eV/Å" | "eV/A" => Unit::EVPerAngstrom,
            "kcal/mol/Å" | "kcal/mol/A" => Unit::KcalPerMolPerAngstrom,
            "D" | "debye" => Unit::Debye,
            "e·Å" | "eÅ" => Unit::EAngstrom,
            "cm-1" | "cm⁻¹" | "1/cm" => Unit::InverseCm,
            _ => return None,
        })
    }

    /// What the unit measures.
    pub fn dimension(self) -> Dimension {
        match self {
            Unit::Angstrom | Unit::Bohr => Dimension::Length,
            Unit::Angstrom2 | Unit::Bohr2 => Dimension::Area,
            Unit::Angstrom3 | Unit::Bohr3 => Dimension::Volume,
            Unit::EV | Unit::MeV | Unit::Hartree | Unit::KcalPerMol | Unit::KjPerMol => {
                Dimension::Energy
            }
            Unit::EVPerAngstrom | Unit::KcalPerMolPerAngstrom | Unit::HartreePerBohr => {
                Dimension::Force
            }
            Unit::Debye | Unit::EAngstrom | Unit::EBohr => Dimension::Dipole,
            Unit::E => Dimension::Charge,
            Unit::GHz | Unit::InverseCm => Dimension::Frequency,
            Unit::CalPerMolK => Dimension::HeatCapacity,
        }
    }

    /// The value of one of this unit in its dimension's base unit (Å, Ų, ų, eV, eV/Å, e·Å,
    /// e, GHz, cal/(mol·K)).
    pub fn in_base(self) -> f64 {
        match self {
            Unit::Angstrom | Unit::Angstrom2 | Unit::Angstrom3 => 1.0,
            Unit::Bohr => BOHR_ANGSTROM,
            Unit::Bohr2 => BOHR_ANGSTROM * BOHR_ANGSTROM,
            Unit::Bohr3 => BOHR_ANGSTROM * BOHR_ANGSTROM * BOHR_ANGSTROM,
            Unit::EV => 1.0,
            Unit::MeV => 1e-3,
            Unit::Hartree => HARTREE_EV,
            Unit::KcalPerMol => KCAL_PER_MOL_EV,
            Unit::KjPerMol => KJ_PER_MOL_EV,
            Unit::EVPerAngstrom => 1.0,
            Unit::KcalPerMolPerAngstrom => KCAL_PER_MOL_EV,
            Unit::HartreePerBohr => HARTREE_EV / BOHR_ANGSTROM,
            Unit::Debye => DEBYE_E_ANGSTROM,
            Unit::EAngstrom => 1.0,
            Unit::EBohr => BOHR_ANGSTROM,
            Unit::E => 1.0,
            Unit::GHz => 1.0,
            Unit::InverseCm => WAVENUMBER_GHZ,
            Unit::CalPerMolK => 1.0,
        }
    }
}

/// Two units of different dimensions were asked to convert.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot convert {from} ({from_dim:?}) to {to} ({to_dim:?})")]
pub struct UnitError {
    /// Source unit symbol.
    pub from: &'static str,
    /// Target unit symbol.
    pub to: &'static str,
    /// Source dimension.
    pub from_dim: Dimension,
    /// Target dimension.
    pub to_dim: Dimension,
}

/// The factor `f` such that `value_in_to = value_in_from * f`.
///
/// # Errors
/// [`UnitError`] if the units measure different things.
pub fn factor(from: Unit, to: Unit) -> Result<f64, UnitError> {
    if from.dimension() != to.dimension() {
        return Err(UnitError {
            from: from.symbol(),
            to: to.symbol(),
            from_dim: from.dimension(),
            to_dim: to.dimension(),
        });
    }
    if from == to {
        return Ok(1.0);
    }
    Ok(from.in_base() / to.in_base())
}

/// Convert `value` from `from` to `to`.
///
/// # Errors
/// [`UnitError`] if the units measure different things.
///
/// # Example
/// ```
/// use nucleate_core::units::{convert, Unit};
/// let ev = convert(1.0, Unit::Hartree, Unit::EV).unwrap();
/// assert!((ev - 27.211386245988).abs() < 1e-12);
/// ```
pub fn convert(value: f64, from: Unit, to: Unit) -> Result<f64, UnitError> {
    Ok(value * factor(from, to)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn codata_2018_factors() {
        assert_eq!(
            convert(1.0, Unit::Hartree, Unit::EV).unwrap(),
            27.211386245988
        );
        assert_eq!(
            convert(1.0, Unit::Bohr, Unit::Angstrom).unwrap(),
            0.529177210903
        );
        assert!(close(KCAL_PER_MOL_EV, 0.043_364_104_2, 1e-9));
        assert!(close(KJ_PER_MOL_EV, 0.010_364_269_656, 1e-9));
        // 1 Ha = 627.509474 kcal/mol
        assert!(close(
            convert(1.0, Unit::Hartree, Unit::KcalPerMol).unwrap(),
            627.509_474_063,
            1e-10
        ));
        // 1 e·a0 = 2.541746473 D (CODATA 2018 atomic unit of electric dipole moment)
        assert!(close(
            convert(1.0, Unit::EBohr, Unit::Debye).unwrap(),
            2.541_746_473,
            1e-9
        ));
        assert!(close(
            convert(1.0, Unit::Bohr3, Unit::Angstrom3).unwrap(),
            0.148_184_711_4,
            1e-9
        ));
        assert!(close(
            convert(1.0, Unit::InverseCm, Unit::GHz).unwrap(),
            29.979_245_8,
            1e-12
        ));
        assert!(close(
            convert(1000.0, Unit::MeV, Unit::EV).unwrap(),
            1.0,
            1e-15
        ));
    }

    #[test]
    fn round_trip_and_dimension_errors() {
        for &u in &Unit::ALL {
            assert_eq!(Unit::from_symbol(u.symbol()), Some(u));
            for &v in &Unit::ALL {
                if u.dimension() == v.dimension() {
                    let x = convert(convert(3.7, u, v).unwrap(), v, u).unwrap();
                    assert!(close(x, 3.7, 1e-14), "{u:?} {v:?}");
                } else {
                    assert!(convert(1.0, u, v).is_err());
                }
            }
        }
        assert_eq!(Unit::from_symbol("Ha"), Some(Unit::Hartree));
        assert_eq!(Unit::from_symbol("parsec"), None);
    }
}
