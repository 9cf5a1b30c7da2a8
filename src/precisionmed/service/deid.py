"""De-identification of DICOM uploads: the DICOM PS3.15 Annex E Basic Application
Confidentiality Profile, applied with pydicom before a file is stored.

No maintained de-identification package is installed (pydicom/deid, dicognito are not in the
stack), so the profile's actions are written out here from PS3.15 Table E.1-1:

- ``Z`` attributes (type 2: must stay, emptied): the patient's name, ID, birth date and sex,
  the study's date, time, ID and accession number, the referring physician;
- ``X`` attributes (removed): other identifiers, names, addresses, institution and device
  details, descriptions and comments in free text;
- ``U`` attributes (UIDs): replaced by new UIDs derived from the original and a service key,
  so that files of one study stay linked to each other and to nothing else;
- every private attribute is removed, every remaining person name (VR PN) removed, every
  remaining date/time (VR DA, DT, TM) removed (no Retain Longitudinal Temporal option);
- files declaring burned-in annotation are refused: their pixels may show identifiers, and
  the basic profile requires them cleaned, which this service does not do.

The result is marked ``PatientIdentityRemoved = YES`` with the method and the profile's code
(113100, "Basic Application Confidentiality Profile").
"""

from __future__ import annotations

import io
from typing import Any

from precisionmed.errors import DataFormatError

#: Type 2 attributes kept with an empty value.
ZERO = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "ContentDate",
    "ContentTime",
)

#: Attributes removed.
REMOVE = (
    "AcquisitionComments",
    "AcquisitionDeviceProcessingDescription",
    "ActualHumanPerformersSequence",
    "AdditionalPatientHistory",
    "AdmissionID",
    "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription",
    "Allergies",
    "Arbitrary",
    "AuthorObserverSequence",
    "BranchOfService",
    "CommentsOnThePerformedProcedureStep",
    "ConfidentialityConstraintOnPatientDataDescription",
    "ContentCreatorName",
    "ContentCreatorIdentificationCodeSequence",
    "ContributionDescription",
    "CountryOfResidence",
    "CurrentPatientLocation",
    "CustodialOrganizationSequence",
    "DerivationDescription",
    "DeviceSerialNumber",
    "DigitalSignaturesSequence",
    "DischargeDiagnosisDescription",
    "EthnicGroup",
    "FrameComments",
    "IdentifyingComments",
    "ImageComments",
    "ImagePresentationComments",
    "InstitutionAddress",
    "InstitutionCodeSequence",
    "InstitutionName",
    "InstitutionalDepartmentName",
    "InterpretationApproverSequence",
    "InterpretationAuthor",
    "InterpretationRecorder",
    "InterpretationText",
    "InterpretationTranscriber",
    "IssuerOfAdmissionID",
    "IssuerOfPatientID",
    "MedicalAlerts",
    "MedicalRecordLocator",
    "MilitaryRank",
    "ModifiedAttributesSequence",
    "NameOfPhysiciansReadingStudy",
    "NamesOfIntendedRecipientsOfResults",
    "Occupation",
    "OperatorIdentificationSequence",
    "OperatorsName",
    "OriginalAttributesSequence",
    "OrderCallbackPhoneNumber",
    "OrderEnteredBy",
    "OrderEntererLocation",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "ParticipantSequence",
    "PatientAddress",
    "PatientAge",
    "PatientBirthName",
    "PatientBirthTime",
    "PatientComments",
    "PatientInstitutionResidence",
    "PatientInsurancePlanCodeSequence",
    "PatientMotherBirthName",
    "PatientPrimaryLanguageCodeSequence",
    "PatientReligiousPreference",
    "PatientSize",
    "PatientState",
    "PatientTelephoneNumbers",
    "PatientTelecomInformation",
    "PatientWeight",
    "PerformedLocation",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepID",
    "PerformingPhysicianIdentificationSequence",
    "PerformingPhysicianName",
    "PersonAddress",
    "PersonIdentificationCodeSequence",
    "PersonName",
    "PersonTelephoneNumbers",
    "PhysicianApprovingInterpretation",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "PhysiciansReadingStudyIdentificationSequence",
    "PregnancyStatus",
    "ProtocolName",
    "ReasonForTheImagingServiceRequest",
    "ReferencedPatientAliasSequence",
    "ReferencedPatientPhotoSequence",
    "ReferencedPatientSequence",
    "ReferencedStudySequence",
    "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence",
    "ReferringPhysicianTelephoneNumbers",
    "RegionOfResidence",
    "RequestAttributesSequence",
    "RequestedProcedureDescription",
    "RequestedProcedureID",
    "RequestingPhysician",
    "RequestingService",
    "ResponsibleOrganization",
    "ResponsiblePerson",
    "ResultsComments",
    "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepDescription",
    "SeriesDescription",
    "ServiceEpisodeDescription",
    "ServiceEpisodeID",
    "SmokingStatus",
    "SpecialNeeds",
    "StationName",
    "StudyComments",
    "StudyDescription",
    "TextComments",
    "TextString",
    "TopicAuthor",
    "TopicKeywords",
    "TopicSubject",
    "TopicTitle",
    "VerifyingObserverName",
    "VerifyingObserverSequence",
    "VerifyingOrganization",
)

#: UIDs replaced by derived ones.
REPLACE_UID = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "SynchronizationFrameOfReferenceUID",
    "ReferencedSOPInstanceUID",
    "ReferencedFrameOfReferenceUID",
    "IrradiationEventUID",
    "DeviceUID",
    "InstanceCreatorUID",
    "StorageMediaFileSetUID",
    "ConcatenationUID",
    "DimensionOrganizationUID",
    "UID",
)

METHOD = "PS3.15 E.1 Basic Profile (precisionmed)"


def deidentify_dicom(data: bytes, uid_key: str, *, source: str = "upload") -> bytes:
    """The DICOM file ``data`` de-identified with the basic profile (see the module docstring).

    Parameters
    ----------
    data : bytes
        A DICOM Part 10 file.
    uid_key : str
        Secret mixed into the replacement UIDs (the same key gives the same new UID for the
        same original, so a study's files stay linked).
    source : str
        How to name the file in errors (never the file's own name, which may identify).

    Returns
    -------
    bytes
        The de-identified DICOM file.

    Raises
    ------
    DataFormatError
        Not a readable DICOM file, or one declaring burned-in annotation.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise DataFormatError(
            f"{source}: expected a DICOM file; could not read it ({exc})"
        ) from exc
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        raise DataFormatError(
            f"{source}: the DICOM file declares burned-in annotation (0028,0301) = YES; its "
            "pixels may show patient identifiers, so it cannot be de-identified and stored"
        )
    ds.remove_private_tags()
    _clean(ds, uid_key)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    code = pydicom.Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = pydicom.Sequence([code])
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.preamble = b"\0" * 128  # a preamble can carry another file (dual-personality DICOM)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def _clean(ds: Any, uid_key: str) -> None:
    from pydicom.uid import generate_uid

    zero, remove, uids = set(ZERO), set(REMOVE), set(REPLACE_UID)
    for elem in list(ds):
        keyword = elem.keyword
        if keyword == "PixelData":
            continue
        if elem.VR == "SQ" and keyword not in remove and keyword != "PixelData":
            for item in elem.value:
                _clean(item, uid_key)
        elif keyword in zero:
            elem.value = ""
        elif keyword in remove or elem.VR == "PN" or elem.VR in ("DA", "DT", "TM"):
            del ds[elem.tag]
        elif keyword in uids and elem.value:
            elem.value = generate_uid(entropy_srcs=[uid_key, str(elem.value)])
